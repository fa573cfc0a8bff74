// normalize(): defaults, and above all the allocator: lowest free address, what it skips, and
// stability (what the kernel holds, passed as `held`, is kept, so nobody is renumbered).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText, renormalize } from './load.js';
import type { Held } from './normalize.js';
import type { Topology } from './types.js';

type Spec = Record<string, unknown>;

const textOf = (spec: Spec) => stringify({ version: 1, name: 't', ...spec });

function load(spec: Spec, held: Held = {}): Topology {
  const r = loadText('t.yaml', textOf(spec), held);
  expect(r.diagnostics, 'no diagnostics expected').toEqual([]);
  return r.topology!;
}

function errors(spec: Spec, held: Held = {}) {
  const r = loadText('t.yaml', textOf(spec), held);
  expect(r.topology).toBeUndefined();
  return r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.path}`);
}

/** endpoint address -> its addresses. */
const addresses = (t: Topology) =>
  Object.fromEntries([...t.sandboxes.values()].flatMap((s) => s.endpoints.map((e) => [e.address, e.addresses.join(' ')])));

/** What the kernel would hold after applying `t`. */
const heldFrom = (t: Topology, hostRoutes?: Record<string, string[]>): Held => ({
  endpoints: new Map([...t.sandboxes.values()].flatMap((s) => s.endpoints.map((e) => [e.address, e.addresses] as const))),
  subnets: new Map([...t.networks.values()].map((n) => [n.name, n.subnets.map((s) => `${s.gateway}/${s.prefixLength}`)] as const)),
  ...(hostRoutes ? { hostRoutes: new Map(Object.entries(hostRoutes)) } : {}),
});

const net = (subnet?: string | string[], extra: Spec = {}) => ({ driver: 'bridge', ...(subnet ? { subnet } : {}), ...extra });
const on = (network: string, extra: Spec = {}) => ({ endpoints: [{ network, ...extra }] });
/** Sandboxes named by `names`, each with one endpoint on "n". */
const members = (...names: string[]) => Object.fromEntries(names.map((n) => [n, on('n')]));

describe('allocation', () => {
  it('hands out the lowest free address, after the gateway, in file order', () => {
    const t = load({ networks: { n: net('198.18.0.0/24') }, sandboxes: members('a', 'b', 'c') });
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.2/24', 'endpoint.b.eth0': '198.18.0.3/24', 'endpoint.c.eth0': '198.18.0.4/24' });
  });

  it('skips reserved and static addresses, wherever the static endpoint stands in the file', () => {
    const t = load({
      networks: { n: net('198.18.0.0/24', { reserved: ['198.18.0.2'] }) },
      sandboxes: { a: on('n'), b: on('n'), s: on('n', { ip: '198.18.0.3' }) },
    });
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.4/24', 'endpoint.b.eth0': '198.18.0.5/24', 'endpoint.s.eth0': '198.18.0.3/24' });
    expect(t.sandboxes.get('s')!.endpoints[0]!.static).toEqual([true]);
    expect(t.sandboxes.get('a')!.endpoints[0]!.static).toEqual([false]);
  });

  it('starts at .1 when the gateway is elsewhere', () => {
    const t = load({ networks: { n: net('198.18.0.0/24', { gateway: '198.18.0.254' }) }, sandboxes: members('a') });
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.1/24' });
  });

  it('honours ipRange, with the subnet\'s prefix length', () => {
    const t = load({ networks: { n: net('198.18.0.0/24', { ipRange: '198.18.0.128/25' }) }, sandboxes: members('a', 'b') });
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.128/24', 'endpoint.b.eth0': '198.18.0.129/24' });
  });

  it('skips the network address and gateway when ipRange starts at the subnet', () => {
    const t = load({ networks: { n: net('198.18.0.0/24', { ipRange: '198.18.0.0/26' }) }, sandboxes: members('a') });
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.2/24' });
  });

  it('allocates IPv6 per subnet, skipping the Subnet-Router anycast address and the gateway', () => {
    const t = load({ networks: { n: net(['198.18.0.0/24', '2001:db8::/64'], { ipRange: ['2001:db8::100/120'] }) }, sandboxes: members('a', 'b') });
    expect(addresses(t)).toEqual({
      'endpoint.a.eth0': '198.18.0.2/24 2001:db8::100/64',
      'endpoint.b.eth0': '198.18.0.3/24 2001:db8::101/64',
    });
    const plain = load({ networks: { n: net('2001:db8::/64') }, sandboxes: members('a') });
    expect(addresses(plain)).toEqual({ 'endpoint.a.eth0': '2001:db8::2/64' });
  });

  it('reports an exhausted pool at the endpoint that found no address, and no other', () => {
    expect(errors({ networks: { n: net('198.18.0.0/30') }, sandboxes: members('a', 'b', 'c') })).toEqual([
      'pool-exhausted /sandboxes/b/endpoints/0/network',
      'pool-exhausted /sandboxes/c/endpoints/0/network',
    ]);
    expect(errors({ networks: { n: net('198.18.0.0/24', { ipRange: '198.18.0.8/31' }) }, sandboxes: members('a', 'b', 'c') })).toEqual([
      'pool-exhausted /sandboxes/c/endpoints/0/network',
    ]);
  });
});

describe('stable allocation', () => {
  const spec = (names: string[], extra: Spec = {}) => ({ networks: { n: net('198.18.0.0/24', extra) }, sandboxes: members(...names) });
  const first = load(spec(['a', 'b', 'c']));
  const held = heldFrom(first);

  it('keeps held addresses when a sandbox is added before the others', () => {
    const t = load(spec(['z', 'a', 'b', 'c']), held);
    expect(addresses(t)).toEqual({ ...addresses(first), 'endpoint.z.eth0': '198.18.0.5/24' });
    // Without what the kernel holds, z would have taken .2 and everyone would have moved.
    expect(addresses(load(spec(['z', 'a', 'b', 'c'])))['endpoint.a.eth0']).toBe('198.18.0.3/24');
  });

  it('keeps held addresses when a sandbox is added after the others', () => {
    const t = load(spec(['a', 'b', 'c', 'd']), held);
    expect(addresses(t)).toEqual({ ...addresses(first), 'endpoint.d.eth0': '198.18.0.5/24' });
  });

  it('keeps the others when a sandbox is removed, and fills the gap with the next newcomer', () => {
    const t = load(spec(['a', 'c']), held);
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.2/24', 'endpoint.c.eth0': '198.18.0.4/24' });
    const later = load(spec(['a', 'c', 'd']), heldFrom(t));
    expect(addresses(later)['endpoint.d.eth0']).toBe('198.18.0.3/24');
  });

  it('keeps held addresses outside a new ipRange as long as they are in the subnet', () => {
    const t = load(spec(['a', 'b', 'c', 'd'], { ipRange: '198.18.0.128/25' }), held);
    expect(addresses(t)).toEqual({ ...addresses(first), 'endpoint.d.eth0': '198.18.0.128/24' });
  });

  it('gives up a held address that a static one, the gateway or a reservation now claims', () => {
    const t = load(
      {
        networks: { n: net('198.18.0.0/24', { gateway: '198.18.0.3', reserved: ['198.18.0.4'] }) },
        sandboxes: { s: on('n', { ip: '198.18.0.2' }), a: on('n'), b: on('n'), c: on('n') },
      },
      held,
    );
    expect(addresses(t)).toEqual({
      'endpoint.s.eth0': '198.18.0.2/24',
      'endpoint.a.eth0': '198.18.0.1/24',
      'endpoint.b.eth0': '198.18.0.5/24',
      'endpoint.c.eth0': '198.18.0.6/24',
    });
  });

  it('gives up held addresses that no longer fit the subnet', () => {
    const moved = load({ networks: { n: net('198.18.1.0/24') }, sandboxes: members('a') }, held);
    expect(addresses(moved)).toEqual({ 'endpoint.a.eth0': '198.18.1.2/24' });
    const widened = load({ networks: { n: net('198.18.0.0/23') }, sandboxes: members('a') }, held);
    expect(addresses(widened)).toEqual({ 'endpoint.a.eth0': '198.18.0.2/23' });
  });

  it('never gives one held address to two endpoints', () => {
    const clash: Held = { endpoints: new Map([['endpoint.a.eth0', ['198.18.0.7/24']], ['endpoint.b.eth0', ['198.18.0.7/24']]]) };
    const t = load(spec(['a', 'b']), clash);
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '198.18.0.7/24', 'endpoint.b.eth0': '198.18.0.2/24' });
  });

  it('keeps a held IPv6 Subnet-Router anycast address rather than renumbering', () => {
    const v6 = { endpoints: new Map([['endpoint.a.eth0', ['2001:db8::/64']]]) };
    expect(addresses(load({ networks: { n: net('2001:db8::/64') }, sandboxes: members('a', 'b') }, v6))).toEqual({
      'endpoint.a.eth0': '2001:db8::/64',
      'endpoint.b.eth0': '2001:db8::2/64',
    });
  });

  it('renormalize() applies held addresses to a loaded file', () => {
    const r = loadText('t.yaml', textOf(spec(['z', 'a'])));
    expect(addresses(r.topology!)['endpoint.a.eth0']).toBe('198.18.0.3/24');
    const again = renormalize(r, held);
    expect(addresses(again.topology!)).toEqual({ 'endpoint.z.eth0': '198.18.0.3/24', 'endpoint.a.eth0': '198.18.0.2/24' });
  });
});

describe('subnets picked from the default pools', () => {
  const subnetOf = (t: Topology, n: string) => t.networks.get(n)!.subnets.map((s) => `${s.cidr} gw ${s.gateway} ${s.origin}`).join(' ');

  it('picks the first pool for a bridge network without a subnet', () => {
    const t = load({ networks: { n: net() }, sandboxes: members('a') });
    expect(subnetOf(t, 'n')).toBe('172.17.0.0/16 gw 172.17.0.1 pool');
    expect(addresses(t)).toEqual({ 'endpoint.a.eth0': '172.17.0.2/16' });
  });

  it('skips pools that overlap subnets written in the file', () => {
    const t = load({ networks: { n: net(), f: net('172.17.5.0/24') } });
    expect(subnetOf(t, 'n')).toBe('172.18.0.0/16 gw 172.18.0.1 pool');
    expect(subnetOf(t, 'f')).toBe('172.17.5.0/24 gw 172.17.5.1 file');
  });

  it('skips pools that overlap routes of the host, but not the default route', () => {
    const held: Held = { hostRoutes: new Map([['local', ['0.0.0.0/0', '172.17.0.0/16', '172.18.4.0/22']]]) };
    expect(subnetOf(load({ networks: { n: net() } }, held), 'n')).toBe('172.19.0.0/16 gw 172.19.0.1 pool');
  });

  it('looks only at the routes of the hosts the network is on', () => {
    const spec = {
      hosts: { h1: { via: 'netns t-h1' }, h2: { via: 'netns t-h2' } },
      networks: { n: net() },
      sandboxes: { a: { host: 'h1', ...on('n') } },
    };
    const held: Held = { hostRoutes: new Map([['h2', ['172.17.0.0/16']]]) };
    expect(subnetOf(load(spec, held), 'n')).toBe('172.17.0.0/16 gw 172.17.0.1 pool');
  });

  it('hands out distinct pools to several networks', () => {
    const t = load({ networks: { a: net(), b: net(), c: net() } });
    expect(['a', 'b', 'c'].map((n) => t.networks.get(n)!.subnets[0]!.cidr)).toEqual(['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16']);
  });

  it('keeps the subnet a network holds, when networks are added before it', () => {
    const before = load({ networks: { b: net(), c: net() } });
    const held = heldFrom(before);
    const after = load({ networks: { a: net(), b: net(), c: net() } }, held);
    expect(subnetOf(after, 'b')).toBe(subnetOf(before, 'b'));
    expect(subnetOf(after, 'c')).toBe(subnetOf(before, 'c'));
    expect(subnetOf(after, 'a')).toBe('172.19.0.0/16 gw 172.19.0.1 pool');
  });

  it('keeps a held subnet even when an earlier pool is free, unless the file now claims it', () => {
    const held: Held = { subnets: new Map([['n', ['172.25.0.1/16']]]) };
    expect(subnetOf(load({ networks: { n: net() } }, held), 'n')).toBe('172.25.0.0/16 gw 172.25.0.1 pool');
    expect(subnetOf(load({ networks: { n: net(), f: net('172.25.9.0/24') } }, held), 'n')).toBe('172.17.0.0/16 gw 172.17.0.1 pool');
  });

  it('reports no-free-subnet, without throwing, when every pool is taken', () => {
    const held: Held = { hostRoutes: new Map([['local', ['172.16.0.0/12', '192.168.0.0/16']]]) };
    expect(errors({ networks: { n: net() }, sandboxes: members('a') }, held)).toEqual(['no-free-subnet /networks/n']);
  });
});

describe('defaults', () => {
  it('fills MTUs, kernel names and a default route per family via the gateway', () => {
    const t = load({ networks: { n: net(['198.18.0.0/24', '2001:db8::/64']) }, sandboxes: members('a') });
    const n = t.networks.get('n')!;
    expect(n).toMatchObject({ driver: 'bridge', bridge: 'tsn-n', mtu: 1500, hosts: ['local'] });
    const a = t.sandboxes.get('a')!;
    expect(a).toMatchObject({ host: 'local', netns: 't-a', ownsNetns: true });
    expect(a.endpoints[0]).toMatchObject({ ifname: 'eth0', mtu: 1500, hostIfname: expect.stringMatching(/^tsv[0-9a-f]{8}$/) });
    expect(a.routes.map((r) => `${r.address} via ${r.via}${r.automatic ? ' auto' : ''}`)).toEqual([
      'route.a.default via 198.18.0.1 auto',
      'route.a.default-ipv6 via 2001:db8::1 auto',
    ]);
  });

  it('lets a written default route replace the automatic one of its family only', () => {
    const t = load({ networks: { n: net(['198.18.0.0/24', '2001:db8::/64']) }, sandboxes: { a: { ...on('n'), routes: [{ to: 'default', via: '198.18.0.254' }, { to: '10.0.0.1', via: '198.18.0.9' }] } } });
    expect(t.sandboxes.get('a')!.routes.map((r) => `${r.address} ${r.to} via ${r.via}${r.automatic ? ' auto' : ''}`)).toEqual([
      'route.a.default default via 198.18.0.254',
      'route.a.10.0.0.1/32 10.0.0.1/32 via 198.18.0.9',
      'route.a.default-ipv6 default via 2001:db8::1 auto',
    ]);
  });

  it('shares namespaces along container: chains, and gives host sandboxes none', () => {
    const t = load({ sandboxes: { a: {}, b: { mode: 'container:a' }, c: { mode: 'container:b' }, h: { mode: 'host' }, q: { mode: 'none' } } });
    const ns = Object.fromEntries([...t.sandboxes.values()].map((s) => [s.name, `${s.netns} ${s.ownsNetns}`]));
    expect(ns).toEqual({ a: 't-a true', b: 't-a false', c: 't-a false', h: 'null false', q: 't-q true' });
  });

  it('derives overlay MACs from the address and leaves macvlan MTU to the parent', () => {
    const t = load({
      hosts: { h1: { via: 'netns t-h1', underlay: '198.19.0.1' } },
      networks: { o: { driver: 'overlay', vni: 9, subnet: '198.18.50.0/24' }, m: { driver: 'macvlan', parent: 'eth0', subnet: '198.18.40.0/24' } },
      sandboxes: { a: { endpoints: [{ network: 'o' }, { network: 'm' }] } },
    });
    const [o, m] = t.sandboxes.get('a')!.endpoints;
    expect(o).toMatchObject({ addresses: ['198.18.50.2/24'], mac: '02:42:c6:12:32:02', mtu: 1450 });
    expect(m!.mtu).toBeUndefined();
    expect(m!.hostIfname).toBeUndefined();
    expect(t.networks.get('o')).toMatchObject({ vni: 9, port: 4789, vxlan: 'tsx-o', mtu: 1450 });
    expect(t.networks.get('m')).toMatchObject({ mode: 'bridge', parent: 'eth0' });
    // The overlay has no gateway to route through; the macvlan's gateway gives the default route.
    expect(t.sandboxes.get('a')!.routes.map((r) => r.via)).toEqual(['198.18.40.1']);
  });

  it('writes sysctl values as sysctl prints them', () => {
    const t = load({ sandboxes: { a: { sysctls: { 'net.ipv4.ip_forward': true, 'net.ipv6.conf.all.disable_ipv6': false, 'net.core.somaxconn': 1024, 'net.ipv4.ping_group_range': '0 0' } } } });
    expect(t.sandboxes.get('a')!.sysctls).toEqual({
      'net.ipv4.ip_forward': '1',
      'net.ipv6.conf.all.disable_ipv6': '0',
      'net.core.somaxconn': '1024',
      'net.ipv4.ping_group_range': '0 0',
    });
  });
});
