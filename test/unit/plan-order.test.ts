// The order in which the planner calls the resource appliers, or in which the drivers are
// registered, does not change the plan: each applier plans only its own resources, what their
// steps do to each other is worked out by the passes afterwards, and the drivers' recognition
// of what the host holds never overlaps. Every golden case is planned in several orders.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APPLIERS } from '../../src/appliers/index.js';
import { nat } from '../../src/appliers/nat.js';
import { firewall } from '../../src/appliers/firewall.js';
import { sandboxes } from '../../src/appliers/namespace.js';
import { DRIVERS, linkAppliers } from '../../src/appliers/registry.js';
import { qdiscs } from '../../src/appliers/qdisc.js';
import { routes } from '../../src/appliers/route.js';
import type { ResourceApplier } from '../../src/appliers/types.js';
import type { Driver } from '../../src/appliers/driver.js';
import { HostView, markResource } from '../../src/appliers/common.js';
import { PLAN_CASES, planCase, readLiveState } from '../support/golden.js';

const cases = readdirSync(PLAN_CASES).filter((d) => existsSync(join(PLAN_CASES, d, 'topology.yaml'))).sort();

/** Every rotation of the list and its reverse: each applier comes first and last at least once. */
function orders<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (const base of [[...list], [...list].reverse()]) for (let i = 0; i < base.length; i++) out.push([...base.slice(i), ...base.slice(0, i)]);
  return out;
}

describe('plan: the order of the appliers does not matter', () => {
  it('has several appliers to shuffle', () => {
    expect(APPLIERS.length).toBeGreaterThanOrEqual(4);
  });
  for (const name of cases) {
    it(name, () => {
      const dir = join(PLAN_CASES, name);
      const expected = JSON.stringify(planCase(dir));
      for (const appliers of orders(APPLIERS)) {
        expect(JSON.stringify(planCase(dir, { appliers })), appliers.map((a) => a.kind).join(',')).toBe(expected);
      }
      for (const drivers of orders(DRIVERS)) {
        const { networks, endpoints } = linkAppliers(drivers);
        const appliers: ResourceApplier[] = [routes, endpoints, nat, firewall, networks, sandboxes, qdiscs];
        expect(JSON.stringify(planCase(dir, { appliers })), drivers.map((d) => d.name).join(',')).toBe(expected);
      }
    });
  }
});

describe("the drivers' recognitions never overlap", () => {
  // On every captured kernel state: each network or endpoint the host holds is recognized by
  // exactly one driver's applier (p2p ends by the p2p one, veth ends on bridges by the veth one).
  const appliersOf = (part: 'network' | 'endpoint') => [...new Set((DRIVERS as readonly Driver[]).flatMap((d) => (d[part] ? [d[part]] : [])))];
  for (const name of cases) {
    const dir = join(PLAN_CASES, name);
    const hostsDir = join(dir, 'state');
    if (!existsSync(hostsDir)) continue;
    it(name, () => {
      const topology = /^name: *([^\s#]+)/m.exec(readFileSync(join(dir, 'topology.yaml'), 'utf8'))![1]!;
      const hosts = readdirSync(hostsDir);
      const live = readLiveState(dir, hosts, topology);
      for (const host of hosts) {
        const view = new HostView(topology, live.hosts.get(host)!, () => true);
        const ctx = { topology, host, view, desired: new Map() };
        for (const address of new Set([...view.ownedLinks.keys()].map(markResource))) {
          const part = address.startsWith('endpoint.') ? 'endpoint' : 'network';
          const kinds = appliersOf(part).filter((a) => a.recognizes(ctx, address)).map((a) => a.linkKind);
          expect(kinds, `${host} ${address}`).toHaveLength(1);
          if (name.includes('p2p') && part === 'endpoint') expect(kinds, address).toEqual(['p2p veth']);
        }
      }
    });
  }
});
