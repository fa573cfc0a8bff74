// The p2p driver's model: exactly two endpoints in two sandboxes on one host (errors with
// line:col), no gateway key, no NAT, /31 and /127 with both addresses for the ends, no default
// route, and what it expands to: one end leads (makes the pair), each names its peer.
import { describe, expect, it } from 'vitest';
import { loadText } from '../model/load.js';
import { expand } from '../planner/desired.js';
import type { P2pSpec } from './p2p.js';
import { driverFor } from './registry.js';

const load = (text: string) => loadText('t.yaml', `version: 1\nname: t\n${text}`);
/** "code line:col" of each diagnostic. */
const diags = (text: string) => load(text).diagnostics.map((d) => `${d.code} ${d.start?.line}:${d.start?.col}`);

const LINK = (subnet: string, extra = '') => `networks:\n  l:\n    driver: p2p\n    subnet: ${subnet}\n${extra}`;
const END = (sb: string, extra = '') => `  ${sb}:\n    endpoints:\n      - network: l\n${extra}`;

describe('p2p validation', () => {
  it('accepts two ends in two sandboxes', () => {
    expect(diags(`${LINK('198.18.0.0/31')}sandboxes:\n${END('a')}${END('b')}`)).toEqual([]);
  });

  it('refuses a third endpoint at its network key, and one endpoint at the network', () => {
    expect(diags(`${LINK('198.18.0.0/29')}sandboxes:\n${END('a')}${END('b')}${END('c')}`)).toEqual(['p2p-two-endpoints 16:18']);
    const one = load(`${LINK('198.18.0.0/30')}sandboxes:\n${END('a')}`).diagnostics;
    expect(one.map((d) => `${d.code} ${d.start?.line}:${d.start?.col} ${d.resource}`)).toEqual(['p2p-two-endpoints 4:3 network.l']);
    expect(one[0]!.message).toBe('p2p network "l" joins exactly two endpoints; it has 1');
  });

  it('refuses both ends in one sandbox, or in one namespace shared by container:', () => {
    expect(diags(`${LINK('198.18.0.0/30')}sandboxes:\n  a:\n    endpoints:\n      - network: l\n      - network: l\n`)).toEqual(['duplicate-join 11:18']);
    expect(diags(`${LINK('198.18.0.0/30')}sandboxes:\n${END('a')}  b:\n    mode: container:a\n    endpoints:\n      - network: l\n`)).toContain('p2p-one-sandbox 14:18');
  });

  it('refuses ends on two hosts (the rule of every local network), pointing at an overlay', () => {
    const hosts = 'hosts:\n  h1: {via: "netns h1", underlay: 198.18.99.1}\n  h2: {via: "netns h2", underlay: 198.18.99.2}\n';
    const onHost = (sb: string, h: string) => `  ${sb}:\n    host: ${h}\n    endpoints:\n      - network: l\n`;
    const res = load(`${hosts}${LINK('198.18.0.0/30')}sandboxes:\n${onHost('a', 'h1')}${onHost('b', 'h2')}`);
    expect(res.diagnostics.map((d) => d.code)).toEqual(['network-spans-hosts']);
    expect(res.diagnostics[0]!.hint).toContain('overlay');
  });

  it('refuses gateway (a rule) and nat (the schema), with positions', () => {
    expect(diags(`${LINK('198.18.0.0/30', '    gateway: 198.18.0.1\n')}sandboxes:\n${END('a')}${END('b')}`)).toEqual(['p2p-gateway 7:5']);
    expect(load(`${LINK('198.18.0.0/30', '    nat: true\n')}sandboxes:\n${END('a')}${END('b')}`).diagnostics.map((d) => d.start?.line)).toEqual([7]);
  });

  it('needs a subnet, and takes /31 and /127 but not /32 or /128', () => {
    expect(diags(`networks:\n  l:\n    driver: p2p\nsandboxes:\n${END('a')}${END('b')}`)).toEqual(['p2p-needs-subnet 4:3']);
    expect(diags(`${LINK('2001:db8::/127')}sandboxes:\n${END('a')}${END('b')}`)).toEqual([]);
    expect(diags(`${LINK('198.18.0.0/32')}sandboxes:\n${END('a')}${END('b')}`)).toEqual(['subnet-too-small 6:13']);
    expect(diags(`${LINK('2001:db8::/128')}sandboxes:\n${END('a')}${END('b')}`)).toEqual(['subnet-too-small 6:13']);
  });
});

describe('p2p addresses and routes', () => {
  const ends = (subnet: string, a = '', b = '') => {
    const t = load(`${LINK(subnet)}sandboxes:\n${END('a', a)}${END('b', b)}`).topology!;
    return ['a', 'b'].map((s) => t.sandboxes.get(s)!);
  };

  it('gives both addresses of a /31 and a /127 to the ends (no network, broadcast or gateway address)', () => {
    expect(ends('198.18.0.0/31').map((s) => s.endpoints[0]!.addresses)).toEqual([['198.18.0.0/31'], ['198.18.0.1/31']]);
    expect(ends('2001:db8::/127').map((s) => s.endpoints[0]!.addresses)).toEqual([['2001:db8::/127'], ['2001:db8::1/127']]);
  });

  it('skips network and broadcast of a /30, and lets an end hold the first address', () => {
    expect(ends('198.18.0.0/30').map((s) => s.endpoints[0]!.addresses)).toEqual([['198.18.0.1/30'], ['198.18.0.2/30']]);
    expect(ends('198.18.0.0/30', '        ip: 198.18.0.2\n').map((s) => s.endpoints[0]!.addresses)).toEqual([['198.18.0.2/30'], ['198.18.0.1/30']]);
    expect(diags(`${LINK('198.18.0.0/30')}sandboxes:\n${END('a', '        ip: 198.18.0.3\n')}${END('b')}`)).toEqual(['address-is-broadcast 11:13']);
  });

  it('gives no default route', () => {
    expect(ends('198.18.0.0/31').map((s) => s.routes)).toEqual([[], []]);
  });

  it('expands to two ends that name each other; nothing on the host', () => {
    const t = load(`${LINK('198.18.0.0/31', '    mtu: 9000\n')}sandboxes:\n${END('b')}${END('a')}`).topology!;
    const specs = [...expand(t).get('local')!.values()];
    expect(specs.filter((s) => s.kind === 'network')).toEqual([]);
    const eps = specs.filter((s): s is P2pSpec => s.kind === 'endpoint');
    expect(eps.map((e) => [e.address, e.peer, e.peerNetns, e.peerIfname, e.mtu])).toEqual([
      ['endpoint.b.eth0', 'endpoint.a.eth0', 't-a', 'eth0', 9000],
      ['endpoint.a.eth0', 'endpoint.b.eth0', 't-b', 'eth0', 9000],
    ]);
  });
});

describe('p2p shaping', () => {
  const SH = (yaml: string) => `        shaping: ${yaml}\n`;

  it("an end's ingress is shaped on the peer's interface, found by the peer's mark", () => {
    const res = load(`${LINK('198.18.0.0/31')}sandboxes:\n${END('a', SH('{ingress: {rate: 10mbit}}'))}${END('b')}`);
    expect(res.diagnostics).toEqual([]);
    const a = [...expand(res.topology!).get('local')!.values()].find((s) => s.address === 'endpoint.a.eth0') as P2pSpec;
    expect(driverFor('p2p').otherEnd!(a)).toEqual({ ns: 't-b', ifname: 'eth0', mark: 'endpoint.b.eth0/p2p:endpoint.a.eth0' });
  });

  it("refuses an end's ingress where the peer shapes its own interface too, at the ingress key", () => {
    const res = load(`${LINK('198.18.0.0/31')}sandboxes:\n${END('a', SH('{ingress: {rate: 10mbit}}'))}${END('b', SH('{rate: 20mbit}'))}`);
    expect(res.diagnostics.map((d) => `${d.code} ${d.start?.line}:${d.start?.col} ${d.resource}`)).toEqual(['p2p-shaping-twice 11:19 endpoint.a.eth0']);
    // The network's shaping is each end's default: with ingress in it, both ends shape twice.
    const net = load(`${LINK('198.18.0.0/31', '    shaping: {rate: 5mbit, ingress: {rate: 5mbit}}\n')}sandboxes:\n${END('a')}${END('b')}`);
    expect(net.diagnostics.map((d) => d.code)).toEqual(['p2p-shaping-twice', 'p2p-shaping-twice']);
  });
});
