// What a run of checks does, as data (pure: the topology decides, nothing is asked of the
// kernel): each check of the file becomes one probe per address it names, and --all-pairs adds
// an ICMP probe for each ordered pair of endpoints on each network (sampled when there are too
// many). A probe says where it starts (host and namespace of the `from` sandbox), where it goes,
// and where a listener for its port belongs (the namespace holding the address).
import { findDriver } from '../appliers/registry.js';
import { targetOf } from '../exec/target.js';
import type { Check, Family, Sandbox, Topology } from '../model/types.js';
import { hashSeed, samplePairs } from './sample.js';

/** Where a process runs: a host, and a namespace on it (null: the host's own stack). */
export interface Place {
  host: string;
  ns: string | null;
}

export interface Probe {
  /** A check of the file (its index), or a pair of --all-pairs on a network. */
  source: { kind: 'check'; index: number } | { kind: 'pair'; network: string };
  from: string;
  fromAt: Place;
  /** The target as written ("db", "db.eth1", "198.18.40.10"), or "sandbox.ifname" for pairs. */
  to: string;
  address: string;
  family: Family;
  port?: NonNullable<Check['port']>;
  expect: 'reach' | 'blocked';
  /** The namespace holding `address`, where a listener for the port goes; undefined: nothing of the file holds it. */
  listenAt?: Place;
}

export interface PairsReport {
  network: string;
  family: Family;
  endpoints: number;
  /** Every ordered pair: n(n-1). */
  total: number;
  tried: number;
  sampled: boolean;
  seed: number;
}

export interface ProbePlan {
  probes: Probe[];
  pairs: PairsReport[];
}

export interface PlanOptions {
  allPairs?: boolean;
  /** At most this many pairs per network and family. */
  maxPairs: number;
  seed: number;
}

const bare = (cidr: string): string => cidr.split('/')[0]!;
const familyOf = (address: string): Family => (address.includes(':') ? 6 : 4);

/** The sandbox owning the namespace a sandbox lives in (itself, or its container: target). */
function owner(topology: Topology, sb: Sandbox): Sandbox {
  if (sb.ownsNetns || sb.netns === null) return sb;
  return [...topology.sandboxes.values()].find((o) => o.ownsNetns && o.host === sb.host && o.netns === sb.netns) ?? sb;
}

/**
 * Every address of the topology and the namespaces holding it: endpoints, bridge gateways,
 * underlays. (Hosts may reuse a subnet, so one address can be held on several hosts.)
 */
export function addressHolders(topology: Topology): Map<string, Place[]> {
  const held = new Map<string, Place[]>();
  const add = (address: string, place: Place) => held.set(address, [...(held.get(address) ?? []), place]);
  for (const h of topology.hosts.values()) if (h.underlay) add(h.underlay, { host: h.name, ns: null });
  for (const net of topology.networks.values()) {
    if (!findDriver(net.driver)?.model.gatewayOnHost || net.gatewayless) continue; // a macvlan gateway is the LAN's router; an overlay has none
    for (const s of net.subnets) for (const host of net.hosts) add(s.gateway, { host, ns: null });
  }
  for (const sb of topology.sandboxes.values())
    if (sb.ownsNetns) for (const ep of sb.endpoints) for (const a of ep.addresses) add(bare(a), { host: sb.host, ns: sb.netns });
  return held;
}

/** The addresses a check's `to` names. */
function targetAddresses(topology: Topology, check: Check): string[] {
  const to = check.to;
  if (to.kind === 'address') return [to.address];
  const sb = owner(topology, topology.sandboxes.get(to.sandbox)!);
  const endpoints = to.kind === 'endpoint' ? sb.endpoints.filter((e) => e.ifname === to.ifname) : sb.endpoints;
  return endpoints.flatMap((e) => e.addresses.map(bare));
}

const placeOf = (topology: Topology, sandbox: string): Place => {
  const t = targetOf(topology, topology.sandboxes.get(sandbox)!);
  return { host: t.host, ns: t.ns };
};

export function checkProbes(topology: Topology, holders: ReadonlyMap<string, Place[]>): Probe[] {
  return (topology.checks ?? []).flatMap((c) => {
    const fromAt = placeOf(topology, c.from);
    return targetAddresses(topology, c).map((address): Probe => {
      // Where the sandbox named holds it; else, of several holders, the one on the prober's host.
      const all = holders.get(address) ?? [];
      const named = c.to.kind === 'address' ? undefined : placeOf(topology, c.to.sandbox);
      const listenAt = named ?? all.find((p) => p.host === fromAt.host) ?? all[0];
      return {
        source: { kind: 'check', index: c.index },
        from: c.from,
        fromAt,
        to: c.toText,
        address,
        family: familyOf(address),
        ...(c.port ? { port: c.port } : {}),
        expect: c.expect,
        ...(listenAt ? { listenAt } : {}),
      };
    });
  });
}

/** --all-pairs: ICMP between every two endpoints of each network, per family, sampled past the budget. */
export function pairProbes(topology: Topology, opts: Pick<PlanOptions, 'maxPairs' | 'seed'>): ProbePlan {
  const probes: Probe[] = [];
  const pairs: PairsReport[] = [];
  for (const net of topology.networks.values()) {
    const members = [...topology.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.network === net.name).map((e) => ({ sb, ep: e })));
    for (const subnet of net.subnets) {
      const family = subnet.family;
      const ends = members.flatMap(({ sb, ep }) => {
        const a = ep.addresses.find((x) => familyOf(x) === family);
        return a ? [{ sb, ep, address: bare(a) }] : [];
      });
      if (ends.length < 2) continue;
      const seed = hashSeed(`${opts.seed}:${net.name}:${family}`);
      const sample = samplePairs(ends.length, opts.maxPairs, seed);
      pairs.push({ network: net.name, family, endpoints: ends.length, total: sample.total, tried: sample.pairs.length, sampled: sample.sampled, seed: opts.seed });
      for (const [i, j] of sample.pairs) {
        const a = ends[i]!;
        const b = ends[j]!;
        probes.push({
          source: { kind: 'pair', network: net.name },
          from: a.sb.name,
          fromAt: { host: a.sb.host, ns: a.sb.netns },
          to: `${b.sb.name}.${b.ep.ifname}`,
          address: b.address,
          family,
          expect: 'reach',
        });
      }
    }
  }
  return { probes, pairs };
}

export function planProbes(topology: Topology, opts: PlanOptions): ProbePlan {
  const checks = checkProbes(topology, addressHolders(topology));
  if (!opts.allPairs) return { probes: checks, pairs: [] };
  const all = pairProbes(topology, opts);
  return { probes: [...checks, ...all.probes], pairs: all.pairs };
}

/** The sandboxes whose namespaces the probes start in or listen in (they must exist). */
export function sandboxesInvolved(topology: Topology, plan: ProbePlan): string[] {
  const names = new Set<string>();
  for (const p of plan.probes) names.add(p.from);
  for (const c of topology.checks ?? []) if (c.to.kind !== 'address') names.add(c.to.sandbox);
  return [...topology.sandboxes.keys()].filter((n) => names.has(n));
}
