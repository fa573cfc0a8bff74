// The planner against host states built by hand: which routes of the host's own stack clash
// with a bridge subnet, and which devices in a namespace to delete count as someone else's.
import { describe, expect, it } from 'vitest';
import { loadText } from '../../src/model/load.js';
import { expand, type Spec } from '../../src/planner/desired.js';
import { plan } from '../../src/planner/plan.js';
import { markText } from '../../src/state/ownership.js';
import { emptyNamespace, type KLink, type KRoute, type LiveState } from '../../src/state/types.js';

const topology = loadText('t.yaml', 'version: 1\nname: t\nnetworks:\n  web: {driver: bridge, subnet: 198.18.40.0/24}\nsandboxes:\n  a: {endpoints: [{network: web}]}\n').topology!;

const link = (ifname: string, extra: Partial<KLink> = {}): KLink => ({ ifindex: 1, ifname, ns: null, kind: null, up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: [], ...extra });

const withRoutes = (routes: KRoute[]): LiveState => ({
  hosts: new Map([['local', { host: 'local', root: { ...emptyNamespace(null), links: [link('eth0'), link('tun0')], routes }, namespaces: new Map(), nat: null }]]),
});
const errorsWith = (routes: KRoute[]) =>
  plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(topology), live: withRoutes(routes) }).errors.map((e) => e.message);

describe('bridge subnets against the host routes', () => {
  it("a VPN's broader routes via a gateway or a tunnel do not clash", () => {
    expect(
      errorsWith([
        { family: 4, dst: '0.0.0.0/1', gateway: '10.8.0.1', dev: 'tun0', protocol: 'boot' },
        { family: 4, dst: '128.0.0.0/1', dev: 'tun0', protocol: 'static' },
        { family: 4, dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
      ]),
    ).toEqual([]);
  });

  it('a route inside the subnet, or a LAN the host sits on that holds it, clashes', () => {
    expect(errorsWith([{ family: 4, dst: '198.18.40.128/25', gateway: '192.0.2.9', dev: 'eth0', protocol: 'static' }])).toEqual([
      expect.stringContaining("overlaps the host's own route to 198.18.40.128/25 dev eth0, not made by tsnet"),
    ]);
    expect(errorsWith([{ family: 4, dst: '198.18.0.0/16', dev: 'eth0', protocol: 'kernel', scope: 'link' }])).toEqual([
      expect.stringContaining("overlaps the host's own route to 198.18.0.0/16 dev eth0"),
    ]);
  });
});

describe('deleting a namespace that holds devices', () => {
  const ns = (extra: KLink[]) => ({
    ...emptyNamespace('t-a'),
    links: [link('lo', { ns: 't-a', alias: markText('t', 'sandbox.a') }), ...extra],
  });
  const destroyErrors = (extra: KLink[]) =>
    plan({
      topology: 't',
      hosts: ['local'],
      implicitHost: true,
      desired: new Map([['local', new Map<string, Spec>()]]),
      live: { hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map([['t-a', ns(extra)]]), nat: null }]]) },
    }).errors.map((e) => e.message);

  it("the kernel's own fallback tunnel devices do not stop it (they go with the namespace)", () => {
    expect(destroyErrors([link('tunl0', { ns: 't-a', kind: 'ipip', up: false }), link('sit0', { ns: 't-a', kind: 'sit', up: false })])).toEqual([]);
  });

  it("a user's interface does, naming it", () => {
    expect(destroyErrors([link('mine', { ns: 't-a', kind: 'veth' })])).toEqual([
      'cannot delete namespace "t-a": interfaces tsnet does not own are in it: mine (veth, not made by tsnet); move them out or delete them first',
    ]);
  });
});

describe("a link with the network's mark that is not a bridge", () => {
  it('is deleted and the bridge made under its name, with no name clash', () => {
    const live: LiveState = {
      hosts: new Map([
        ['local', { host: 'local', root: { ...emptyNamespace(null), links: [link('tsn-web', { kind: 'veth', alias: markText('t', 'network.web') })] }, namespaces: new Map(), nat: null }],
      ]),
    };
    const p = plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(topology), live });
    expect(p.errors).toEqual([]);
    const ids = p.steps.map((s) => s.id);
    expect(ids.indexOf('local|network.web|delete')).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf('local|network.web|delete')).toBeLessThan(ids.indexOf('local|network.web|create'));
    expect(p.changes.find((c) => c.address === 'network.web')).toMatchObject({ action: 'replace', reasons: ['tsn-web is a veth, not a bridge (forces replacement)'] });
  });
});
