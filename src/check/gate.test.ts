// When `tsnet check` refuses (a sandbox missing or not this topology's), and the drift warning.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import type { Plan } from '../planner/types.js';
import { emptyNamespace, type KNamespace, type LiveState } from '../state/types.js';
import { driftWarning, notApplied } from './gate.js';

const topology = loadText(
  't.yaml',
  stringify({
    version: 1,
    name: 't',
    networks: { web: { driver: 'bridge', subnet: '198.18.0.0/24' } },
    sandboxes: { a: { endpoints: [{ network: 'web' }] }, b: { endpoints: [{ network: 'web' }] }, side: { mode: 'container:a' }, mon: { mode: 'host' } },
  }),
).topology!;

const ns = (name: string, alias?: string): KNamespace => ({
  ...emptyNamespace(name),
  links: [{ ifindex: 1, ifname: 'lo', ns: name, kind: null, up: true, mtu: 65536, mac: '00:00:00:00:00:00', addresses: [], ...(alias ? { alias } : {}) }],
});
const live = (...namespaces: KNamespace[]): LiveState => ({
  hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(namespaces.map((n) => [n.name!, n])) }]]),
});

describe('notApplied', () => {
  it('every sandbox there with this topology\'s mark (a container: sandbox by its target\'s, the host\'s stack needing none): nothing to say', () => {
    expect(notApplied(topology, live(ns('t-a', 'tsnet:t:sandbox.a'), ns('t-b', 'tsnet:t:sandbox.b')), ['a', 'b', 'side', 'mon'])).toEqual([]);
  });

  it('a missing namespace says run apply; a foreign or another topology\'s one is refused', () => {
    expect(notApplied(topology, live(ns('t-a', 'tsnet:t:sandbox.a')), ['a', 'b'])).toEqual([
      'sandbox "b" does not exist: there is no namespace "t-b"; run "tsnet apply t.yaml" first',
    ]);
    expect(notApplied(topology, live(ns('t-a'), ns('t-b', 'tsnet:u:sandbox.b')), ['side', 'b'])).toEqual([
      'sandbox "side": namespace "t-a" is not this topology\'s (its lo carries no tsnet mark); tsnet checks only what "tsnet apply t.yaml" made',
      'sandbox "b": namespace "t-b" is not this topology\'s (its lo belongs to topology "u"); tsnet checks only what "tsnet apply t.yaml" made',
    ]);
  });
});

describe('driftWarning', () => {
  const plan = (n: number): Plan => ({
    topology: 't',
    hosts: ['local'],
    implicitHost: true,
    errors: [],
    steps: [],
    changes: Array.from({ length: n }, (_, i) => ({ action: i ? 'update' : 'create', host: 'local', address: `route.a.${i}`, kind: 'route', summary: '', reasons: [], before: i ? {} : null, after: {} })),
  });

  it('none when the kernel matches; else the count and the first few changes', () => {
    expect(driftWarning(plan(0), 't.yaml')).toBeUndefined();
    expect(driftWarning(plan(1), 't.yaml')).toBe('the kernel differs from t.yaml (1 change: + route.a.0; "tsnet plan t.yaml" shows them): the checks run against the kernel as it is');
    expect(driftWarning(plan(7), 't.yaml')).toContain('(7 changes: + route.a.0, ~ route.a.1, ~ route.a.2, ~ route.a.3, ~ route.a.4, and 2 more;');
  });
});
