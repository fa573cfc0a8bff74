// Planner behaviour found through the golden cases (test/fixtures/plan), pinned on small
// hand-made states.
import { describe, expect, it } from 'vitest';
import { markText } from '../state/ownership.js';
import { emptyNamespace, type KLink, type KNamespace, type KRoute, type LiveState } from '../state/types.js';
import type { BridgeSpec } from '../appliers/bridge.js';
import type { VethSpec } from '../appliers/veth.js';
import type { Desired, RouteSpec, SandboxSpec, Spec } from './desired.js';
import { plan } from './plan.js';

const T = 'top';

let nextIndex = 1;
function link(ns: string | null, ifname: string, extra: Partial<KLink> = {}): KLink {
  return { ifindex: nextIndex++, ifname, ns, kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: [], ...extra };
}
const marked = (address: string) => ({ alias: markText(T, address) });

/** An owned sandbox namespace holding endpoint eth0 (on bridge tsn-web) and these routes. */
function sandboxNs(name: string, sandbox: string, routes: KRoute[]): KNamespace {
  return {
    ...emptyNamespace(name),
    links: [
      link(name, 'lo', { kind: null, ...marked(`sandbox.${sandbox}`) }),
      link(name, 'eth0', { addrGenMode: 'none', ...marked(`endpoint.${sandbox}.eth0`), addresses: [{ family: 4, cidr: '198.18.0.2/24', scope: 'global' }] }),
    ],
    routes,
  };
}

/** Bridge tsn-web (network.web) with the host end of endpoint.<sandbox>.eth0 on it. */
function root(sandbox: string): KNamespace {
  return {
    ...emptyNamespace(null),
    links: [
      link(null, 'tsn-web', { kind: 'bridge', addrGenMode: 'none', ...marked('network.web'), addresses: [{ family: 4, cidr: '198.18.0.1/24', scope: 'global' }] }),
      link(null, 'tsv1', { master: 'tsn-web', addrGenMode: 'none', ...marked(`endpoint.${sandbox}.eth0/peer`) }),
    ],
  };
}

const live = (rootNs: KNamespace, ...namespaces: KNamespace[]): LiveState => ({
  hosts: new Map([['local', { host: 'local', root: rootNs, namespaces: new Map(namespaces.map((n) => [n.name!, n])) }]]),
});

const ownedDefault: KRoute = { family: 4, dst: 'default', gateway: '198.18.0.1', dev: 'eth0', protocol: '116' };

const bridgeSpec: BridgeSpec = { kind: 'network', driver: 'bridge', host: 'local', address: 'network.web', ifname: 'tsn-web', mtu: 1500, addresses: ['198.18.0.1/24'], ipv6: false };

/** The desired state: the bridge, and these specs when any are given. */
function desired(...specs: Spec[]): Desired {
  const all = specs.length ? [bridgeSpec, ...specs] : [];
  return new Map([['local', new Map(all.map((s) => [s.address, s]))]]);
}
const sandboxSpec = (netns: string): SandboxSpec => ({ kind: 'sandbox', host: 'local', address: 'sandbox.a', netns, sysctls: {} });
const endpointSpec = (netns: string): VethSpec => ({
  kind: 'endpoint',
  driver: 'bridge',
  network: 'network.web',
  type: 'veth',
  host: 'local',
  address: 'endpoint.a.eth0',
  netns,
  ifname: 'eth0',
  mtu: 1500,
  addresses: ['198.18.0.2/24'],
  ipv6: false,
  hostIfname: 'tsv1',
  master: 'tsn-web',
});
const routeSpec = (netns: string, via = '198.18.0.1'): RouteSpec => ({ kind: 'route', host: 'local', address: 'route.a.default', netns, to: 'default', via, family: 4 });

const run = (d: Desired, l: LiveState) => plan({ topology: T, hosts: ['local'], implicitHost: true, desired: d, live: l });

describe('plan', () => {
  it('deletes a bridge only after the namespaces whose deletion takes its ports along', () => {
    const p = run(desired(), live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    const bridge = p.steps.find((s) => s.id === 'local|network.web|delete')!;
    expect(bridge.after).toContain('local|sandbox.a|delete');
    expect(p.steps.map((s) => s.id)).toEqual(['local|sandbox.a|delete', 'local|network.web|delete']);
  });

  it('replacing a namespace deletes its veths first, and their undo brings back the routes on them', () => {
    // The kernel removes a deleted namespace's veths asynchronously; the new host end has the same name.
    const want = desired(sandboxSpec('top-a2'), endpointSpec('top-a2'), routeSpec('top-a2'));
    const p = run(want, live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    expect(p.steps.map((s) => s.id).slice(0, 2)).toEqual(['local|endpoint.a.eth0|delete', 'local|sandbox.a|delete']);
    const ns = p.steps.find((s) => s.id === 'local|sandbox.a|delete')!;
    const veth = p.steps.find((s) => s.id === 'local|endpoint.a.eth0|delete')!;
    expect(ns.after).toContain(veth.id);
    expect(veth.do).toEqual([['link', 'del', 'dev', 'tsv1']]);
    expect(ns.undo.map((u) => u.argv.join(' '))).toEqual(['netns add top-a', 'link set dev lo alias tsnet:top:sandbox.a up']);
    expect(veth.undo.at(-1)).toEqual({ host: 'local', ns: 'top-a', tool: 'ip', argv: ['route', 'replace', 'default', 'via', '198.18.0.1', 'proto', '116'] });
    expect(p.changes.map((c) => `${c.action} ${c.address}`)).toEqual(['replace sandbox.a', 'replace endpoint.a.eth0', 'replace route.a.default']);
  });

  it('deleting a namespace takes its veths and routes along: its undo rebuilds them', () => {
    const p = run(desired(), live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    const ns = p.steps.find((s) => s.id === 'local|sandbox.a|delete')!;
    expect(ns.undo.at(-1)?.argv.join(' ')).toBe('route replace default via 198.18.0.1 proto 116');
    expect(p.steps.some((s) => s.id === 'local|endpoint.a.eth0|delete')).toBe(false);
  });

  it('renaming a bridge moves its ports after the new one exists; the old one\'s undo takes them back', () => {
    const renamed = { ...bridgeSpec, ifname: 'br-web' };
    const want = new Map([['local', new Map<string, Spec>([renamed, sandboxSpec('top-a'), { ...endpointSpec('top-a'), master: 'br-web' }, routeSpec('top-a')].map((s) => [s.address, s]))]]);
    const p = run(want, live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    const port = p.steps.find((s) => s.id === 'local|endpoint.a.eth0|update-host')!;
    expect(port.after).toEqual(['local|network.web|create']);
    expect(port.undo.map((u) => u.argv.join(' '))).toEqual(['link set dev tsv1 nomaster']);
    const old = p.steps.find((s) => s.id === 'local|network.web|delete')!;
    expect(old.undo.at(-1)?.argv.join(' ')).toBe('link set dev tsv1 master tsn-web');
  });

  it('sets hairpin mode again on a host end moved to another bridge (a new port starts with it off)', () => {
    const renamed = { ...bridgeSpec, ifname: 'br-web' };
    const want = new Map([['local', new Map<string, Spec>([renamed, sandboxSpec('top-a'), { ...endpointSpec('top-a'), master: 'br-web', hairpin: true }, routeSpec('top-a')].map((s) => [s.address, s]))]]);
    const rootNs = root('a');
    rootNs.links[1]!.hairpin = true;
    const p = run(want, live(rootNs, sandboxNs('top-a', 'a', [ownedDefault])));
    const port = p.steps.find((s) => s.id === 'local|endpoint.a.eth0|update-host')!;
    expect(port.do.map((l) => l.join(' '))).toEqual(['link set dev tsv1 master br-web', 'link set dev tsv1 type bridge_slave hairpin on']);
    expect(p.changes.find((c) => c.address === 'endpoint.a.eth0')?.reasons).toContain('host end hairpin off -> on');
  });

  it('refuses to add a route whose destination a route tsnet did not make holds', () => {
    const byHand: KRoute = { family: 4, dst: 'default', gateway: '198.18.0.254', dev: 'eth0', protocol: 'boot' };
    const p = run(desired(sandboxSpec('top-a'), endpointSpec('top-a'), routeSpec('top-a')), live(root('a'), sandboxNs('top-a', 'a', [byHand])));
    expect(p.errors).toEqual([
      {
        host: 'local',
        address: 'route.a.default',
        message: 'cannot add route default via 198.18.0.1 in top-a: the destination is taken by a route tsnet did not make (default via 198.18.0.254 dev eth0 proto boot)',
      },
    ]);
  });

  it('adds a route again when its link loses its last IPv4 address, and brings it back on undo', () => {
    const moved = { ...endpointSpec('top-a'), addresses: ['198.18.0.3/24'] };
    const p = run(desired(sandboxSpec('top-a'), moved, routeSpec('top-a')), live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    expect(p.changes.map((c) => `${c.action} ${c.address} ${c.reasons.join('; ')}`)).toEqual([
      'update endpoint.a.eth0 address 198.18.0.2/24 is not in the topology; address 198.18.0.3/24 missing',
      'update route.a.default the kernel drops it when eth0 loses its last IPv4 address: added again',
    ]);
    const endpoint = p.steps.find((s) => s.id === 'local|endpoint.a.eth0|update')!;
    const route = p.steps.find((s) => s.id === 'local|route.a.default|update')!;
    expect(endpoint.undo.map((u) => u.argv.join(' '))).toEqual(['addr del 198.18.0.3/24 dev eth0', 'addr add 198.18.0.2/24 dev eth0', 'route replace default via 198.18.0.1 proto 116']);
    expect(route.do).toEqual([['route', 'add', 'default', 'via', '198.18.0.1', 'proto', '116']]);
    expect(route.undo.map((u) => u.argv.join(' '))).toEqual(['route del default via 198.18.0.1 proto 116']);
    expect(route.after).toContain('local|endpoint.a.eth0|update');
  });

  it('does not count a foreign route on a link the plan deletes', () => {
    // The endpoint is renamed by hand (eth9): its replacement deletes eth9 and the route on it.
    const ns = sandboxNs('top-a', 'a', [{ family: 4, dst: 'default', gateway: '198.18.0.254', dev: 'eth9', protocol: 'boot' }]);
    ns.links[1]!.ifname = 'eth9';
    const p = run(desired(sandboxSpec('top-a'), endpointSpec('top-a'), routeSpec('top-a')), live(root('a'), ns));
    expect(p.errors).toEqual([]);
    expect(p.changes.map((c) => `${c.action} ${c.address}`)).toEqual(['replace endpoint.a.eth0', 'create route.a.default']);
  });
});

describe('plan: changes carry before and after', () => {
  it('create has no before, delete no after, update and replace both, as plain data', () => {
    const created = run(desired(sandboxSpec('top-a')), live(emptyNamespace(null)));
    const sandbox = created.changes.find((c) => c.address === 'sandbox.a')!;
    expect(sandbox).toMatchObject({ action: 'create', before: null, after: { kind: 'sandbox', netns: 'top-a' } });

    const removed = run(desired(), live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    expect(removed.changes.find((c) => c.address === 'sandbox.a')).toMatchObject({ action: 'delete', before: { kind: 'sandbox', netns: 'top-a' }, after: null });

    const updated = run(desired(sandboxSpec('top-a'), { ...endpointSpec('top-a'), mtu: 9000 }, routeSpec('top-a')), live(root('a'), sandboxNs('top-a', 'a', [ownedDefault])));
    const endpoint = updated.changes.find((c) => c.address === 'endpoint.a.eth0')!;
    expect(endpoint).toMatchObject({ action: 'update', before: { mtu: 1500, ifname: 'eth0' }, after: { mtu: 9000, ifname: 'eth0' } });
    expect(JSON.parse(JSON.stringify(endpoint))).toEqual(endpoint);
  });
});
