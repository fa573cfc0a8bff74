// up: false on an endpoint: the spec says the link is down, and the routes whose next hop is
// only behind down interfaces are suspended (left out with the reason), as the kernel drops them.
import { describe, expect, it } from 'vitest';
import { expand, type EndpointSpec, type RouteSpec } from '../planner/desired.js';
import { loadText } from './load.js';

const load = (text: string) => loadText('t.yaml', `version: 1\nname: t\n${text}`);
const NETS = 'networks:\n  n: {driver: bridge, subnet: 198.18.1.0/24}\n  m: {driver: bridge, subnet: 198.18.2.0/24}\n';

describe('up: false', () => {
  it('is a boolean (the schema refuses anything else, with its position)', () => {
    expect(load(`${NETS}sandboxes:\n  a:\n    endpoints: [{network: n, up: "no"}]\n`).diagnostics.map((d) => `${d.start?.line}:${d.start?.col}`)).toEqual(['8:34']);
  });

  it('puts up: false in the endpoint spec only when down', () => {
    const t = load(`${NETS}sandboxes:\n  a:\n    endpoints: [{network: n, up: false}, {network: m, up: true}]\n`).topology!;
    const eps = [...expand(t).get('local')!.values()].filter((s): s is EndpointSpec => s.kind === 'endpoint');
    expect(eps.map((e) => [e.address, e.up])).toEqual([
      ['endpoint.a.eth0', false],
      ['endpoint.a.eth1', undefined],
    ]);
  });

  it('suspends the routes whose next hop is only behind down interfaces, automatic default included', () => {
    const t = load(
      `${NETS}sandboxes:\n  a:\n    endpoints: [{network: n, up: false}, {network: m}]\n    routes:\n      - {to: 198.18.9.0/24, via: 198.18.1.7}\n      - {to: 198.18.8.0/24, via: 198.18.2.7}\n`,
    ).topology!;
    const routes = [...expand(t).get('local')!.values()].filter((s): s is RouteSpec => s.kind === 'route');
    expect(routes.map((r) => [r.to, r.via, r.suspended])).toEqual([
      ['198.18.9.0/24', '198.18.1.7', 'its interface eth0 is down (up: false)'],
      ['198.18.8.0/24', '198.18.2.7', undefined],
      ['default', '198.18.1.1', 'its interface eth0 is down (up: false)'],
    ]);
  });

  it('suspends nothing when every interface is up', () => {
    const t = load(`${NETS}sandboxes:\n  a:\n    endpoints: [{network: n}]\n`).topology!;
    expect(t.sandboxes.get('a')!.routes.map((r) => r.suspended)).toEqual([undefined]);
  });
});
