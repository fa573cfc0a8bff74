// Rules and normalization of external sandboxes (external: true with netns: or pid:).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from './load.js';
import { expand } from '../planner/desired.js';
import { plan } from '../planner/plan.js';
import { emptyNamespace, type KNamespace, type LiveState } from '../state/types.js';

type Spec = Record<string, unknown>;
const text = (spec: Spec) => stringify({ version: 1, name: 't', networks: { n: { driver: 'bridge', subnet: '198.18.1.0/24' } }, ...spec });
const errors = (spec: Spec) => loadText('t.yaml', text(spec), {}).diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.path}`);
const load = (spec: Spec) => {
  const r = loadText('t.yaml', text(spec), {});
  expect(r.diagnostics).toEqual([]);
  return r.topology!;
};

describe('external sandboxes: rules', () => {
  it('need exactly one of netns: and pid:', () => {
    expect(errors({ sandboxes: { x: { external: true } } })).toEqual(['external-namespace /sandboxes/x/external']);
    expect(errors({ sandboxes: { x: { external: true, netns: 'a', pid: 5 } } })).toEqual(['external-namespace /sandboxes/x/external']);
  });
  it('pid: only with external; no mode, sysctls or dns', () => {
    expect(errors({ sandboxes: { x: { pid: 5 } } })).toEqual(['pid-needs-external /sandboxes/x/pid']);
    expect(errors({ sandboxes: { x: { external: true, netns: 'a', mode: 'none' } } })).toEqual(['external-mode /sandboxes/x/mode']);
    expect(errors({ sandboxes: { x: { external: true, netns: 'a', sysctls: { 'net.ipv4.ip_forward': 1 } } } })).toEqual(['sysctls-not-allowed /sandboxes/x/sysctls']);
    expect(errors({ sandboxes: { x: { external: true, pid: 9, dns: { servers: ['198.18.0.1'] } } } })).toEqual(['dns-not-allowed /sandboxes/x/dns']);
    expect(errors({ sandboxes: { x: { external: true, pid: 0 } } })).toHaveLength(1);
  });
});

describe('external sandboxes: normalized and planned', () => {
  const t = load({
    sandboxes: {
      a: { endpoints: [{ network: 'n', ip: '198.18.1.2' }] },
      x: { external: true, netns: 'theirs', endpoints: [{ network: 'n', name: 'tsn0', ip: '198.18.1.3' }] },
      p: { external: true, pid: 4242, endpoints: [{ network: 'n', name: 'tsn0', ip: '198.18.1.4' }] },
    },
  });

  it('not owned, named (a pid under the default name), no automatic default route, no names files of their own', () => {
    const x = t.sandboxes.get('x')!;
    const p = t.sandboxes.get('p')!;
    expect([x.ownsNetns, x.netns, x.external, x.routes]).toEqual([false, 'theirs', { netns: 'theirs' }, []]);
    expect([p.ownsNetns, p.netns, p.external]).toEqual([false, 't-p', { pid: 4242 }]);
    const specs = [...expand(t).get('local')!.keys()];
    expect(specs).toEqual(expect.arrayContaining(['sandbox.x', 'endpoint.x.tsn0', 'sandbox.p', 'endpoint.p.tsn0', 'hosts.a']));
    expect(specs.filter((s) => s.startsWith('hosts.') || s.startsWith('route.x') || s.startsWith('route.p'))).toEqual(['hosts.a']);
  });

  const theirs = (name: string): KNamespace => ({
    ...emptyNamespace(name),
    links: [
      { ifindex: 1, ifname: 'lo', ns: name, kind: null, up: true, mtu: 65536, mac: '', addresses: [] },
      { ifindex: 2, ifname: 'own0', ns: name, kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: [{ family: 4, cidr: '198.51.100.1/24', scope: 'global' }] },
    ],
  });
  const live = (namespaces: KNamespace[]): LiveState => ({
    hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(namespaces.map((n) => [n.name!, n])) }]]),
  });
  const planOf = (namespaces: KNamespace[]) => plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(t), live: live(namespaces) });

  it('plans their endpoints, nothing for the namespaces themselves (no mark, no deletion)', () => {
    const p = planOf([theirs('theirs'), theirs('t-p')]);
    expect(p.errors).toEqual([]);
    expect(p.changes.map((c) => `${c.action} ${c.address}`).filter((c) => !c.includes('.a') && !c.includes('network'))).toEqual(['create endpoint.p.tsn0', 'create endpoint.x.tsn0']);
    const touching = p.steps.filter((s) => s.ns === 'theirs' || s.do.some((l) => l.includes('theirs')));
    expect(touching.flatMap((s) => s.do.map((l) => l.join(' '))).some((l) => l.includes('lo') || l.startsWith('netns'))).toBe(false);
  });

  it('a missing namespace is a plan error; a pid that is gone says so', () => {
    const p = planOf([]);
    expect(p.errors.map((e) => `${e.address}: ${e.message}`)).toEqual([
      'sandbox.p: external sandbox: process 4242 is gone (no /proc/4242/ns/net on host "local"): an external sandbox\'s process must be running',
      'sandbox.x: external sandbox: namespace "theirs" does not exist on host "local"; tsnet attaches to a namespace, it does not make one for an external sandbox',
    ]);
  });

  it('an endpoint tsnet left in a namespace it did not make is found and removed once the sandbox leaves the file (detach)', () => {
    const ns = theirs('theirs');
    ns.links.push({ ifindex: 3, ifname: 'tsn0', ns: 'theirs', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:02', alias: 'tsnet:t:endpoint.gone.tsn0', addresses: [{ family: 4, cidr: '198.18.1.9/24', scope: 'global' }] });
    const p = planOf([ns, theirs('t-p')]);
    expect(p.changes.filter((c) => c.address.includes('gone')).map((c) => `${c.action} ${c.address}`)).toEqual(['delete endpoint.gone.tsn0']);
    expect(p.changes.some((c) => c.address === 'sandbox.gone')).toBe(false);
  });
});
