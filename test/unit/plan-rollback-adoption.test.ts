// What a killed rollback, a rolled-back repair and a killed `ip netns add` leave, planned with
// and without the journal that explains it (src/planner/plan.ts adoptionsOf, src/appliers/view.ts).
// - A rollback killed after re-making a namespace the apply had deleted (`netns add` of the
//   deletion's undo ran, marking lo did not): with the rollback journaled (its undo began), the
//   unmarked namespace is the topology's; without that, it is refused as foreign.
// - A repair that adopted half-made objects and was then rolled back before marking them: its
//   journal is closed, but carries what it adopted, so they stay the topology's.
// - /run/netns/NAME left as a plain file: removed and the namespace made again when the journal
//   says tsnet was making it; otherwise a plan error naming the file and how to remove it.
import { describe, expect, it } from 'vitest';
import { loadText } from '../../src/model/load.js';
import { expand } from '../../src/planner/desired.js';
import { plan } from '../../src/planner/plan.js';
import type { Interrupted } from '../../src/planner/types.js';
import { markText } from '../../src/state/ownership.js';
import { emptyNamespace, type KLink, type KNamespace, type LiveState } from '../../src/state/types.js';

const file = (sandboxes: string[]) => `version: 1
name: rb
sandboxes:
${sandboxes.map((s) => `  ${s}: {}`).join('\n')}
`;
const desiredOf = (sandboxes: string[]) => expand(loadText('rb.yaml', file(sandboxes)).topology!);

const lo = (ns: string, alias?: string): KLink => ({ ifindex: 1, ifname: 'lo', ns, kind: null, up: true, mtu: 65536, mac: '00:00:00:00:00:00', addresses: [], ...(alias ? { alias } : {}) });
const namespace = (name: string, marked: boolean): KNamespace => ({ ...emptyNamespace(name), links: [lo(name, marked ? markText('rb', `sandbox.${name.slice(3)}`) : undefined)] });
const live = (namespaces: KNamespace[]): LiveState => ({ hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(namespaces.map((n) => [n.name!, n])) }]]) });
const input = (sandboxes: string[], state: LiveState, interrupted?: Interrupted) => ({
  topology: 'rb',
  hosts: ['local'],
  implicitHost: true,
  desired: desiredOf(sandboxes),
  live: state,
  ...(interrupted ? { interrupted } : {}),
});
const STARTED = '2026-01-01T00:00:00.000Z';

describe('a killed rollback', () => {
  // The apply that was rolled back: sandbox b deleted, c created (from a and b, to a and c).
  const applied = plan(input(['a', 'c'], live([namespace('rb-a', true), namespace('rb-b', true)])));
  const deleteB = applied.steps.find((s) => s.id === 'local|sandbox.b|delete')!;
  const journalOf = (undoBegun: string[]): Interrupted => ({
    pid: 77,
    started: STARTED,
    steps: applied.steps,
    done: applied.steps.map((s) => s.id),
    begun: applied.steps.map((s) => s.id),
    phase: 'rollback',
    undoBegun,
    undoCreates: new Map(applied.steps.map((s) => [s.id, s.undo.flatMap((c) => c.creates ?? [])])),
  });
  // Killed after the undo of b's deletion ran `netns add rb-b` and before it marked lo; c was
  // already undone.
  const afterKill = live([namespace('rb-a', true), namespace('rb-b', false)]);

  it("the deletion's undo says what it makes again", () => {
    expect(deleteB.undo.flatMap((c) => c.creates ?? [])).toEqual([{ kind: 'netns', host: 'local', ns: null, name: 'rb-b', mark: 'sandbox.b' }]);
  });

  it('with its undo journaled as begun, the namespace it made again is the topology\'s: marked, then deleted as the file says', () => {
    const p = plan(input(['a', 'c'], afterKill, journalOf([deleteB.id])));
    expect(p.errors).toEqual([]);
    expect(p.notes?.[0]).toContain('was interrupted during its rollback');
    expect(p.changes.map((c) => `${c.action} ${c.address}`)).toEqual(['delete sandbox.b', 'create sandbox.c']);
    expect(p.adopted).toEqual([{ object: { kind: 'netns', host: 'local', ns: null, name: 'rb-b' }, mark: 'sandbox.b', since: STARTED }]);
  });

  it('without the rollback in the journal, the same namespace is foreign (what the next plan said before)', () => {
    const p = plan(input(['a', 'b'], afterKill, journalOf([])));
    expect(p.errors.map((e) => e.message)).toEqual(['cannot create namespace "rb-b": the name is taken by a foreign namespace "rb-b" (not made by tsnet)']);
  });
});

describe('a repair that was rolled back before it marked what it adopted', () => {
  const state = live([namespace('rb-a', false)]);
  const rolledBack: Interrupted = {
    pid: 78,
    started: '2026-01-01T00:05:00.000Z',
    steps: [],
    done: [],
    begun: [],
    phase: 'rolled-back',
    adopted: [{ object: { kind: 'netns', host: 'local', ns: null, name: 'rb-a' }, mark: 'sandbox.a', since: STARTED }],
  };

  it('the objects it had taken over stay the topology\'s (marked by the next apply), since when they were first taken', () => {
    const p = plan(input(['a'], state, rolledBack));
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => s.description)).toEqual(["mark namespace rb-a as tsnet's"]);
    expect(p.notes?.[0]).toContain('was rolled back before it had marked the objects');
    expect(p.adopted?.map((a) => a.since)).toEqual([STARTED]);
  });

  it('without them in the journal, the namespace is foreign', () => {
    expect(plan(input(['a'], state)).errors.map((e) => e.message)).toEqual(['cannot create namespace "rb-a": the name is taken by a foreign namespace "rb-a" (not made by tsnet)']);
  });

  it('no note once nothing is left unmarked', () => {
    const p = plan(input(['a'], live([namespace('rb-a', true)]), rolledBack));
    expect(p.notes ?? []).toEqual([]);
  });
});

describe('a leftover /run/netns file (a killed `ip netns add`)', () => {
  const leftover: KNamespace = { ...emptyNamespace('rb-a'), leftover: true };
  const making = plan(input(['a'], live([])));
  const killed: Interrupted = { pid: 79, started: STARTED, steps: making.steps, done: [], begun: ['local|sandbox.a|create'] };

  it('the journal says tsnet was making it: the file is removed and the namespace made again', () => {
    const p = plan(input(['a'], live([leftover]), killed));
    expect(p.errors).toEqual([]);
    const create = p.steps.find((s) => s.id === 'local|sandbox.a|create')!;
    expect(create.do).toEqual([
      ['netns', 'del', 'rb-a'],
      ['netns', 'add', 'rb-a'],
    ]);
    expect(p.changes.map((c) => [c.action, c.address, c.reasons])).toEqual([
      ['replace', 'sandbox.a', ['/run/netns/rb-a is a leftover of the interrupted apply (a file with no namespace on it): removed, and the namespace made again']],
    ]);
  });

  it('destroy removes it too', () => {
    const p = plan({ ...input(['a'], live([leftover]), killed), desired: new Map([['local', new Map()]]), destroy: true });
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => s.do)).toEqual([[['netns', 'del', 'rb-a']]]);
  });

  it('not made by tsnet (no journal says so): a plan error naming the file and how to remove it', () => {
    const p = plan(input(['a'], live([leftover])));
    expect(p.errors.map((e) => e.message)).toEqual([
      'cannot create namespace "rb-a": the name is taken by a leftover file /run/netns/rb-a with no namespace mounted on it, which no interrupted tsnet run of this topology was making (remove it with "ip netns del rb-a", or "rm /run/netns/rb-a", and plan again)',
    ]);
  });
});

describe('adoption takes only what the killed run can have made', () => {
  const making = plan(input(['a'], live([])));
  const killed = (extra: Partial<Interrupted> = {}): Interrupted => ({ pid: 80, started: STARTED, steps: making.steps, done: [], begun: making.steps.map((s) => s.id), ...extra });
  const unmarked = (extra: Partial<KNamespace> = {}): KNamespace => ({ ...namespace('rb-a', false), ...extra });
  const errors = (ns: KNamespace, i = killed()) => plan(input(['a'], live([ns]), i)).errors.map((e) => `${e.address}: ${e.message}`);

  it('a namespace made after the run began, holding nothing else, is adopted', () => {
    expect(errors(unmarked({ created: Date.parse(STARTED) + 1000 }))).toEqual([]);
  });

  it('a namespace made before the run began (by hand, under the name it was making) is refused', () => {
    expect(errors(unmarked({ created: Date.parse(STARTED) - 60_000 }))).toEqual([
      'sandbox.a: namespace "rb-a" was made at 2025-12-31T23:59:00.000Z, before the interrupted run began (2026-01-01T00:00:00.000Z): it is not that run\'s work',
      'sandbox.a: cannot create namespace "rb-a": the name is taken by a foreign namespace "rb-a" (not made by tsnet)',
    ]);
  });

  it('a namespace holding an interface, an address, a route or a process tsnet would not make is refused, naming them', () => {
    const ns = unmarked({
      created: Date.parse(STARTED) + 1000,
      links: [
        { ...lo('rb-a'), addresses: [{ family: 4, cidr: '127.0.0.1/8', scope: 'host' }, { family: 4, cidr: '192.0.2.1/32', scope: 'global' }] },
        { ifindex: 2, ifname: 'wg0', ns: 'rb-a', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:09', addresses: [] },
      ],
      routes: [{ family: 4, dst: '192.0.2.0/24', dev: 'wg0', protocol: 'static' }],
      inUse: [4242],
    });
    expect(errors(ns)[0]).toBe(
      'sandbox.a: namespace "rb-a" holds what the interrupted run would not make (address 192.0.2.1/32 on lo; interface wg0 (veth); route 192.0.2.0/24; process 4242): it is not taken as this topology\'s; remove it, or what it holds, by hand',
    );
  });

  it('a link with an ifindex no higher than the highest when the run began existed before it: refused', () => {
    const bridgeOf = (ifindex: number): LiveState => ({
      hosts: new Map([['local', { host: 'local', root: { ...emptyNamespace(null), links: [{ ifindex, ifname: 'tsn-w', ns: null, kind: 'bridge', up: true, mtu: 1500, mac: '02:00:00:00:00:0a', addresses: [] }] }, namespaces: new Map() }]]),
    });
    const withBridge = `version: 1
name: rb
networks:
  w: {driver: bridge, bridge: tsn-w, subnet: 198.18.41.0/24}
sandboxes:
  a: {endpoints: [{network: w}]}
`;
    const desired = expand(loadText('rb.yaml', withBridge).topology!);
    const made = plan({ ...input(['a'], live([])), desired });
    const i: Interrupted = { pid: 81, started: STARTED, steps: made.steps, done: [], begun: made.steps.map((s) => s.id), ifindexes: { local: { '': 7 } } };
    expect(plan({ ...input(['a'], bridgeOf(5), i), desired }).errors.map((e) => e.message)[0]).toBe(
      'bridge "tsn-w" in the host\'s own stack existed before the interrupted run began (ifindex 5; the highest then was 7): it is not that run\'s work',
    );
    expect(plan({ ...input(['a'], bridgeOf(9), i), desired }).errors).toEqual([]);
    // What a repair marks was made by an earlier run: no ifindex witness for it.
    const marking: Interrupted = { ...i, steps: [{ ...made.steps[0]!, id: 'x', creates: [], marks: [{ kind: 'link', host: 'local', ns: null, name: 'tsn-w', mark: 'network.w' }] }], begun: [] };
    expect(plan({ ...input(['a'], bridgeOf(5), marking), desired }).errors).toEqual([]);
  });
});
