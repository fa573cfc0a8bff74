import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from './load.js';
import { expand, type EndpointSpec } from '../planner/desired.js';

type Spec = Record<string, unknown>;

const load = (spec: Spec) => loadText('t.yaml', stringify({ version: 1, name: 't', ...spec }));
const errors = (spec: Spec) =>
  load(spec)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.code} ${d.path}${d.resource ? ` ${d.resource}` : ''} ${d.start ? `${d.start.line}:${d.start.col}` : ''}`.trim());

const lan = (extra: Spec = {}) => ({ driver: 'bridge', subnet: '198.18.5.0/24', ...extra });
const mv = (extra: Spec = {}) => ({ driver: 'macvlan', parent: 'eth0', subnet: '198.18.6.0/24', ...extra });
const one = (net: Spec, ep: Spec = {}) => ({ networks: { n: net }, sandboxes: { a: { endpoints: [{ network: 'n', ...ep }] } } });

describe('shaping in the file', () => {
  it('accepts shaping on endpoints and networks', () => {
    expect(errors(one(lan({ shaping: { rate: '10mbit' } }), { shaping: { delay: '40ms', jitter: '5ms', loss: '0.5%', ingress: { rate: '2mbit' } } }))).toEqual([]);
  });

  it('reports a bad unit from the schema with the parser\'s words, at the value', () => {
    const d = load(one(lan(), { shaping: { rate: '10mbps' } })).diagnostics;
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ code: 'bad-rate', path: '/sandboxes/a/endpoints/0/shaping/rate', start: { line: 12 } });
    expect(d[0]!.message).toContain('tc reads "mbps" as bytes per second');
  });

  it('suggests delay for latency', () => {
    const [d] = load(one(lan(), { shaping: { latency: '5ms' } })).diagnostics;
    expect(d).toMatchObject({ code: 'unknown-key', hint: 'did you mean "delay"?' });
  });

  it('reports values the pattern lets through, and the rules, with the resource address', () => {
    expect(errors(one(lan(), { shaping: { rate: '0mbit' } }))).toEqual(['bad-rate /sandboxes/a/endpoints/0/shaping/rate endpoint.a.eth0 12:17']);
    expect(errors(one(lan(), { shaping: { loss: '120%' } }))).toEqual(['bad-percent /sandboxes/a/endpoints/0/shaping/loss endpoint.a.eth0 12:17']);
    expect(errors(one(lan(), { shaping: { jitter: '5ms' } }))).toEqual(['jitter-needs-delay /sandboxes/a/endpoints/0/shaping/jitter endpoint.a.eth0 12:19']);
    expect(errors(one(lan({ shaping: { ingress: { reorder: '5%' } } })))).toEqual(['reorder-needs-delay /networks/n/shaping/ingress/reorder network.n 9:18']);
  });

  it('refuses ingress on macvlan (no other end), on the endpoint and on the network', () => {
    expect(errors(one(mv(), { shaping: { ingress: { rate: '1mbit' } } }))).toEqual(['ingress-not-allowed /sandboxes/a/endpoints/0/shaping/ingress endpoint.a.eth0 14:13']);
    expect(errors(one(mv({ shaping: { ingress: { rate: '1mbit' } } })))).toEqual(['ingress-not-allowed /networks/n/shaping/ingress network.n 10:9']);
    expect(errors(one(mv(), { shaping: { rate: '1mbit' } }))).toEqual([]);
  });

  it('gives endpoints their network\'s shaping unless they have their own (which replaces it whole)', () => {
    const t = load({
      networks: { n: lan({ shaping: { rate: '10mbit', ingress: { delay: '5ms' } } }) },
      sandboxes: { a: { endpoints: [{ network: 'n' }] }, b: { endpoints: [{ network: 'n', shaping: { delay: '40ms' } }] }, c: { endpoints: [{ network: 'n', shaping: {} }] } },
    }).topology!;
    const specs = new Map([...expand(t).get('local')!.values()].filter((s): s is EndpointSpec => s.kind === 'endpoint').map((s) => [s.address, s.shaping]));
    expect(specs.get('endpoint.a.eth0')).toEqual({ egress: { kind: 'tbf', rate: 10_000_000, burst: 5000, limit: 67_500 }, ingress: { kind: 'netem', limit: 1000, delay: 5000 } });
    expect(specs.get('endpoint.b.eth0')).toEqual({ egress: { kind: 'netem', limit: 1000, delay: 40_000 } });
    expect(specs.get('endpoint.c.eth0')).toBeUndefined();
  });
});
