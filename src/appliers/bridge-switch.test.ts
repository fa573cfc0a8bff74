// A bridge network with "gateway: none": an L2-only switch. No address on the bridge, no
// default route, every address of the subnet for the endpoints (a router may hold the first);
// NAT is refused, and "gateway: none" is refused where it means nothing (macvlan, overlay).
import { describe, expect, it } from 'vitest';
import { loadText } from '../model/load.js';
import { expand } from '../planner/desired.js';
import { toMermaid } from '../cli/graph.js';
import type { BridgeSpec } from './bridge.js';

const load = (text: string) => loadText('t.yaml', `version: 1\nname: t\n${text}`);
const SWITCH = (extra = '') => `networks:\n  lan:\n    driver: bridge\n    subnet: 198.18.0.0/24\n    gateway: none\n${extra}`;
const END = (sb: string, extra = '') => `  ${sb}:\n    endpoints:\n      - network: lan\n${extra}`;

describe('bridge with gateway: none', () => {
  it('puts no address on the bridge and gives no default route', () => {
    const t = load(`${SWITCH()}sandboxes:\n${END('a')}`).topology!;
    expect(t.networks.get('lan')!.gatewayless).toBe(true);
    expect(t.sandboxes.get('a')!.routes).toEqual([]);
    const bridge = [...expand(t).get('local')!.values()].find((s) => s.kind === 'network') as BridgeSpec;
    expect(bridge.addresses).toEqual([]);
    expect(toMermaid(t)).toContain('bridge tsn-lan, L2 only (no gateway)<br/>198.18.0.0/24"}}');
    expect(toMermaid(t)).not.toContain('gw ');
  });

  it('lets an endpoint take the first address (statically, or allocated)', () => {
    const t = load(`${SWITCH()}sandboxes:\n${END('r', '        ip: 198.18.0.1\n')}${END('a')}`).topology!;
    expect(t.sandboxes.get('r')!.endpoints[0]!.addresses).toEqual(['198.18.0.1/24']);
    expect(t.sandboxes.get('a')!.endpoints[0]!.addresses).toEqual(['198.18.0.2/24']);
    expect(load(`${SWITCH()}sandboxes:\n${END('a')}`).topology!.sandboxes.get('a')!.endpoints[0]!.addresses).toEqual(['198.18.0.1/24']);
    // With its gateway, the first address is the bridge's.
    const withGw = load(`networks:\n  lan:\n    driver: bridge\n    subnet: 198.18.0.0/24\nsandboxes:\n${END('r', '        ip: 198.18.0.1\n')}`);
    expect(withGw.diagnostics.map((d) => d.code)).toEqual(['address-is-gateway']);
  });

  it('refuses nat: true, at the nat key', () => {
    const d = load(`${SWITCH('    nat: true\n')}sandboxes:\n${END('a')}`).diagnostics;
    expect(d.map((x) => `${x.code} ${x.start?.line}:${x.start?.col}`)).toEqual(['nat-without-gateway 8:10']);
  });

  it('refuses gateway: none on macvlan and overlay; an address that is not "none" is still checked', () => {
    const macvlan = load('networks:\n  m:\n    driver: macvlan\n    parent: eth0\n    subnet: 198.18.0.0/24\n    gateway: none\n').diagnostics;
    expect(macvlan.map((x) => `${x.code} ${x.start?.line}:${x.start?.col}`)).toEqual(['gateway-none 8:14']);
    const overlay = load('networks:\n  o:\n    driver: overlay\n    subnet: 198.18.0.0/24\n    gateway: none\n').diagnostics;
    expect(overlay.map((x) => x.code)).toContain('gateway-none');
    expect(load(`${SWITCH().replace('none', 'nothing')}`).diagnostics.map((x) => x.code)).toEqual(['bad-address']);
  });
});
