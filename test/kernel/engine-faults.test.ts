// Failure injection: for line positions K of a plan (a step's last line, so the step fails after
// its other lines have run: one step of each kind, or every step with TSNET_KERNEL_EXHAUSTIVE=1;
// sampled positions for the variants), the K-th line fails
// for real (the kernel refuses it), and the engine must report that step with ip's own error
// text and roll back so that the kernel is exactly as before (full dumps compared, see
// test/support/dump.ts).
// Two plans: building engine-three.yaml from nothing, and changing it in place into
// engine-three-update.yaml (gateway, addresses, mtu, route, sysctl). The sandboxes' names files
// under /etc/netns (the lab's own) must be as before too, byte for byte.
import { sharedKey } from '../../src/appliers/names-content.js';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession, type Mode, type Session } from '../../src/engine/index.js';
import { TOOLS } from '../../src/executor/tools/index.js';
import type { Plan, Step } from '../../src/planner/types.js';
import { runnerFor } from '../../src/state/runner.js';
import { dumpDiff, quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { Fault, FAULT_FILE_ERROR, FAULT_IP_ERROR, FAULT_IP_EXIT255_ERROR, FAULT_NFT_ERROR, FAULT_SYSCTL, FaultyRunner, type Counted } from '../support/faulty-runner.js';
import { FIXTURES, describeInLab, must, removeAll } from '../support/lab.js';

const BASE = join(FIXTURES, 'engine-three.yaml');
const UPDATE = join(FIXTURES, 'engine-three-update.yaml');
const NETNS = ['kt3-a', 'kt3-b', 'kt3-c'];
/** A test that applies once per line position: tens of applies, each rolled back and dumped. */
const LOOP_TIMEOUT = 240_000;

/** Plans `file` with runners that share `fault`, and applies it (no journal). */
async function engineRun(file: string, mode: Mode, fault: Fault, concurrency?: number) {
  const s = await planSession(file, mode, { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
  try {
    expect(s.plan.errors).toEqual([]);
    const out = await applySession(s, { journal: false, ...(concurrency ? { concurrency } : {}) });
    return { plan: s.plan, ...out };
  } finally {
    await closeRunners(s.runners);
  }
}

/**
 * `file` planned once, with runners sharing one fault that each run resets: a rollback puts the
 * kernel back as it was (everyPosition compares dumps, and restores it when not), so the same
 * plan holds for every position, and each run costs an apply and its rollback, not a read too.
 */
interface Planned {
  s: Session;
  fault: Fault;
}

async function planOnce(file: string): Promise<Planned> {
  const fault = new Fault(0);
  const s = await planSession(file, 'apply', { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
  expect(s.plan.errors).toEqual([]);
  return { s, fault };
}

/** Applies `planned` once more (no journal), failing its line `at` (or the line `target`). */
async function applyPlanned(planned: Planned, at: number, kind: Fault['kind'], concurrency?: number, target?: Counted) {
  planned.fault.reset(at, kind, target);
  const out = await applySession(planned.s, { journal: false, ...(concurrency ? { concurrency } : {}) });
  return { plan: planned.s.plan, ...out };
}

/** Applies `file` without faults and checks the kernel then matches it. */
async function converge(file: string, mode: Mode = 'apply'): Promise<Plan> {
  const fault = new Fault(0);
  const r = await engineRun(file, mode, fault);
  expect(r.result.failure, 'apply without faults').toBeUndefined();
  expect(r.verify?.changes ?? [], 'changes left after a clean apply').toEqual([]);
  return r.plan;
}

/** Everything under the lab's /etc/netns (tsnet's shared directory too): each directory (as ""), file with its content, link as "-> target". */
function etcNetns(dir = '', out: Record<string, string> = {}): Record<string, string> {
  for (const d of readdirSync(`/etc/netns${dir}`).sort()) {
    const at = `/etc/netns${dir}/${d}`;
    const key = `${dir.slice(1)}${dir ? '/' : ''}${d}`;
    const st = lstatSync(at);
    if (st.isDirectory()) {
      out[`${key}/`] = '';
      etcNetns(`${dir}/${d}`, out);
    } else out[key] = st.isSymbolicLink() ? `-> ${readlinkSync(at)}` : readFileSync(at, 'utf8');
  }
  return out;
}

/** Which entries of two etcNetns() trees differ. */
const filesDiff = (a: Record<string, string>, b: Record<string, string>): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).map((k) => `/etc/netns/${k}: ${k in a ? (k in b ? 'content differs' : 'gone') : 'left behind'}`);

/**
 * A step's line as the runner sees it, made by the step's tool: an ip/bridge batch line,
 * sysctl's k=v argument, a file-tool line (which names the owner besides the argv).
 */
const lineText = (st: Step, l: string[]) => TOOLS[st.tool].line(l);

/** Lines the executor runs for a plan: one per do-line of every step. */
const planLines = (p: Plan) => p.steps.reduce((n, s) => n + s.do.length, 0);

/**
 * The line positions a run fails: 1, 1+stride, ... and the last. The namespace swap takes every
 * third position, and the variants that exercise another mechanism (batches fanned out at once,
 * ip naming no line) every seventh, so the suite stays within its time.
 */
function positions(total: number, stride: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= total; k += stride) out.push(k);
  if (out.at(-1) !== total) out.push(total);
  return out;
}

/**
 * Each step's last line as a clean run (one batch at a time) executes them, from the lines that
 * run saw: failing each in turn makes every step of the plan the failing one once, and a step of
 * several lines fails after its others have run, so its own partial work must be undone along
 * with the steps before it. Lines, not positions: the host's batches (nft, the names files) run
 * beside the group of namespace batches, so a line's position varies from run to run (by
 * position, some steps were never the failing one and others twice).
 */
function stepEnds(p: Plan, seen: readonly Counted[]): { at: Counted[]; steps: string[] } {
  const last = new Map<string, Counted>();
  for (const c of seen) {
    const step = p.steps.find((st) => st.host === c.host && st.ns === c.ns && st.do.some((l) => lineText(st, l) === c.line));
    if (step) last.set(step.id, c);
  }
  expect([...last.keys()].sort(), 'every step has a line the clean run executed').toEqual(p.steps.map((st) => st.id).sort());
  const chosen = EXHAUSTIVE ? p.steps : oneOfEachKind(p.steps);
  return { at: chosen.map((st) => last.get(st.id)!), steps: chosen.map((st) => st.id).sort() };
}

/**
 * TSNET_KERNEL_EXHAUSTIVE=1: every step of a plan is the failing one once. By default (the
 * suite's time) one step of each kind: resource kind, phase and action (the first of the plan's
 * order, e.g. sandbox.a's create for all three sandboxes'), so every kind of step and of undo
 * is still failed and rolled back, and the sampled variants below vary the positions.
 */
const EXHAUSTIVE = process.env.TSNET_KERNEL_EXHAUSTIVE === '1';

function oneOfEachKind(steps: readonly Step[]): Step[] {
  const seen = new Set<string>();
  return steps.filter((st) => {
    const kind = `${st.address.split('.')[0]} ${st.phase} ${st.action}`;
    if (seen.has(kind)) return false;
    seen.add(kind);
    return true;
  });
}

/** The lines a clean run of `file` executes, in order (the kernel is changed: the caller puts it back). */
async function cleanLines(file: string): Promise<Counted[]> {
  const fault = new Fault(0);
  const r = await engineRun(file, 'apply', fault, 1);
  expect(r.result.failure, 'the clean run').toBeUndefined();
  return fault.seen;
}

/**
 * Runs the plan from `file` once per line position K in `at`, failing line K, and
 * checks each run. Returns the problems found (empty: all positions behaved), and the steps hit.
 */
async function everyPosition(file: string, at: readonly (number | Counted)[], before: KernelDump, opts: { concurrency?: number; restore?: string; kind?: Fault['kind'] }) {
  const problems: string[] = [];
  const hit = new Set<string>();
  const files = etcNetns();
  const planned = await planOnce(file);
  try {
    for (const k of at) await onePosition(k);
  } finally {
    await closeRunners(planned.s.runners);
  }
  return { problems, hit };

  async function onePosition(k: number | Counted) {
    const r = await applyPlanned(planned, typeof k === 'number' ? k : 0, opts.kind ?? 'refused', opts.concurrency, typeof k === 'number' ? undefined : k);
    const fired: Counted | undefined = planned.fault.fired;
    const where = `${typeof k === 'number' ? `K=${k}` : `line ${k.line.slice(0, 60)}`}${fired ? ` (${fired.ns ?? 'lab stack'}: ${fired.line.slice(0, 120)})` : ''}`;
    const f = r.result.failure;
    if (r.result.ok || !f || !fired) {
      problems.push(`${where}: expected a failure, got ok=${r.result.ok}, fired=${Boolean(fired)}`);
    } else {
      hit.add(f.step.id);
      const exit255 = fired.tool === 'ip' && opts.kind === 'exit255';
      // ip exiting 255 names no line: the executor names the step from its progress markers
      // (the host's batches), or the first step of the namespace's batch (fanned-out batches).
      const named = f.step.host === fired.host && f.step.ns === fired.ns && (exit255 || f.step.do.some((l) => lineText(f.step, l) === fired.line));
      if (!named) problems.push(`${where}: the failure names step ${f.step.id}, which does not hold the failed line`);
      const expected =
        fired.tool === 'sysctl' ? FAULT_SYSCTL.replace(/\./g, '/') : fired.tool === 'nft' ? FAULT_NFT_ERROR : fired.tool === 'file' ? FAULT_FILE_ERROR : exit255 ? FAULT_IP_EXIT255_ERROR : FAULT_IP_ERROR;
      if (!f.error.includes(expected)) problems.push(`${where}: the error does not carry the tool's own text (${expected}): ${f.error}`);
      // The executor reports the line it wrote (the runner swapped it for the refused one).
      // (the file tool names a line by its operation and path, not its content)
      const command = fired.tool === 'sysctl' ? `sysctl -w` : fired.tool === 'file' ? `file ${fired.line.split(' ').slice(0, 2).join(' ')}` : `${fired.tool} ${fired.line}`;
      if (!exit255 && !f.command.startsWith(command)) problems.push(`${where}: the failure's command is not the failed line: ${f.command}`);
      if (r.result.rollbackErrors.length) problems.push(`${where}: rollback errors: ${r.result.rollbackErrors.join('; ')}`);
      // The engine's own check of the rollback (owned state before and after) must agree.
      if (r.rollbackDiff?.length) problems.push(`${where}: the engine reports a difference after the rollback: ${r.rollbackDiff.join('; ')}`);
    }
    const filesAfter = etcNetns();
    const changed = filesDiff(files, filesAfter);
    if (changed.length) problems.push(`${where}: /etc/netns differs after the rollback: ${changed.join('; ')}`);
    const after = await settledDump(before);
    if (JSON.stringify(after) !== JSON.stringify(before) || changed.length) {
      problems.push(`${where}: the kernel differs after the rollback:\n  ${dumpDiff(before, after).slice(0, 20).join('\n  ')}`);
      // Put the kernel back so that the next positions start from the same state.
      if (opts.restore) await converge(opts.restore);
      else await converge(file, 'destroy');
    }
  }
}


describeInLab('engine: failure injection at every step', () => {
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
  });
  afterAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
  });

  it('the faulty runner counts exactly the lines of the plan, and a clean apply converges', async () => {
    const before = await quietDump();
    const files = etcNetns();
    const fault = new Fault(0);
    const r = await engineRun(BASE, 'apply', fault);
    expect(r.result.ok).toBe(true);
    expect(r.plan.steps.length).toBeGreaterThan(10);
    expect(fault.count).toBe(planLines(r.plan));
    // The hosts links and their shared file are made (their lines counted above) and destroy takes them away.
    const made = etcNetns();
    expect(Object.keys(made).filter((k) => k.endsWith('/hosts')).sort()).toEqual(['kt3-a/hosts', 'kt3-b/hosts', 'kt3-c/hosts']);
    expect(Object.keys(made).filter((k) => k.startsWith('.tsnet/kt3/') && k.endsWith('.hosts')).length).toBeGreaterThan(0);
    await converge(BASE, 'destroy');
    expect(await settledDump(before)).toEqual(before);
    expect(etcNetns()).toEqual(files);
  });

  for (const concurrency of [1, 2]) {
    it(`apply from nothing: ${concurrency === 1 ? 'each kind of step (every step with TSNET_KERNEL_EXHAUSTIVE=1) fails at its last line' : 'every seventh line position fails'} cleanly (concurrency ${concurrency})`, async () => {
      const before = await quietDump();
      const s = await planSession(BASE, 'apply');
      await closeRunners(s.runners);
      let at: (number | Counted)[] = positions(planLines(s.plan), 7);
      let chosen: string[] = [];
      if (concurrency === 1) {
        ({ at, steps: chosen } = stepEnds(s.plan, await cleanLines(BASE)));
        await converge(BASE, 'destroy');
        expect(await settledDump(before)).toEqual(before);
      }
      const { problems, hit } = await everyPosition(BASE, at, before, { concurrency });
      expect(problems).toEqual([]);
      // One run at a time is deterministic: each chosen step has been the failing one.
      if (concurrency === 1) expect([...hit].sort()).toEqual(chosen);
      expect(await settledDump(before)).toEqual(before);
    }, LOOP_TIMEOUT);
  }

  it('apply from nothing with ip exiting 255 mid-batch (no line named): every seventh line position rolls back cleanly', async () => {
    const before = await quietDump();
    const s = await planSession(BASE, 'apply');
    await closeRunners(s.runners);
    const { problems } = await everyPosition(BASE, positions(planLines(s.plan), 7), before, { concurrency: 1, kind: 'exit255' });
    expect(problems).toEqual([]);
    expect(await settledDump(before)).toEqual(before);
  }, LOOP_TIMEOUT);

  it('update in place: each kind of step (every step with TSNET_KERNEL_EXHAUSTIVE=1) fails at its last line, cleanly, and the applied topology is restored', async () => {
    const empty = await quietDump();
    await converge(BASE);
    const before = await quietDump();
    const s = await planSession(UPDATE, 'apply');
    await closeRunners(s.runners);
    expect(s.plan.changes.map((c) => `${c.action} ${c.address}`).sort()).toEqual(
      [
        'update endpoint.a.eth0',
        'update endpoint.b.eth0',
        'update endpoint.c.eth0',
        'update network.net',
        'update route.a.default',
        'update route.b.default',
        'update route.c.198.18.81.0/24',
        'update route.c.default',
        'update sandbox.c',
        'delete nat.net',
        // a, b and c share one hosts file (their hosts links stay as they are).
        `update hostsfile.${sharedKey('local', ['net'])}`,
      ].sort(),
    );
    const { at, steps: chosen } = stepEnds(s.plan, await cleanLines(UPDATE));
    await converge(BASE);
    const { problems, hit } = await everyPosition(UPDATE, at, before, { concurrency: 1, restore: BASE });
    expect(problems).toEqual([]);
    expect([...hit].sort()).toEqual(chosen);
    // And the update itself goes through, then destroy leaves the lab as it was.
    await converge(UPDATE);
    await converge(UPDATE, 'destroy');
    expect(await settledDump(empty)).toEqual(empty);
  }, LOOP_TIMEOUT);

  it('a plan that deletes namespaces and makes them again under the same names: every third line position rolls back to the applied topology', async () => {
    const SWAP = join(FIXTURES, 'engine-swap.yaml');
    const SWAP2 = join(FIXTURES, 'engine-swap-2.yaml');
    const empty = await quietDump();
    await converge(SWAP);
    const before = await quietDump();
    const s = await planSession(SWAP2, 'apply');
    await closeRunners(s.runners);
    expect(s.plan.changes.map((c) => `${c.action} ${c.address}`).sort()).toEqual([
      'replace endpoint.a.eth0',
      'replace endpoint.b.eth0',
      // The hosts links stay: both namespaces' links point to the one file of the sandboxes on web.
      'replace route.a.default',
      'replace route.b.default',
      'replace sandbox.a',
      'replace sandbox.b',
    ]);
    const problems: string[] = [];
    const files = etcNetns();
    for (const k of positions(planLines(s.plan), 3)) {
      const r = await engineRun(SWAP2, 'apply', new Fault(k), 1);
      if (r.result.ok) problems.push(`K=${k}: expected a failure`);
      const changed = filesDiff(files, etcNetns());
      if (changed.length) problems.push(`K=${k}: /etc/netns differs after the rollback: ${changed.join('; ')}`);
      if (r.result.rollbackErrors.length) problems.push(`K=${k}: rollback errors: ${r.result.rollbackErrors.join('; ')}`);
      if (r.rollbackDiff?.length) problems.push(`K=${k}: the owned state differs after the rollback: ${r.rollbackDiff.join('; ')}`);
      // Deleted objects come back as new ones (new ifindexes, MACs), so the check is tsnet's own:
      // the applied topology is whole again, with nothing to do.
      const again = await planSession(SWAP, 'apply');
      await closeRunners(again.runners);
      if (again.plan.changes.length || again.plan.errors.length) {
        problems.push(`K=${k}: after the rollback the plan of engine-swap.yaml is not empty: ${[...again.plan.errors.map((e) => e.message), ...again.plan.changes.map((c) => `${c.action} ${c.address}`)].join('; ')}`);
        await converge(SWAP);
      }
    }
    expect(problems).toEqual([]);
    await converge(SWAP, 'destroy');
    expect(await settledDump(empty)).toEqual(empty);
    void before;
  }, LOOP_TIMEOUT);

  it("a user's route that the kernel drops with an address tsnet changes is named in the plan and comes back on rollback", async () => {
    const READDRESS = join(FIXTURES, 'engine-readdress.yaml');
    await converge(BASE);
    // The user's own route in sandbox a, through the address the plan takes away.
    await must(['ip', 'route', 'add', '198.51.100.0/24', 'via', '198.18.80.1', 'metric', '50'], { ns: 'kt3-a' });
    await must(['ip', 'route', 'add', '203.0.113.0/24', 'via', '192.0.2.77', 'dev', 'eth0', 'onlink'], { ns: 'kt3-a' });
    const before = await quietDump();
    const s = await planSession(READDRESS, 'apply');
    await closeRunners(s.runners);
    expect(s.plan.notes ?? []).toContainEqual(expect.stringContaining("the route 198.51.100.0/24 via 198.18.80.1 dev eth0 proto boot in kt3-a is not tsnet's"));
    // Fail the last line: everything before it, the address change included, is rolled back.
    const r = await engineRun(READDRESS, 'apply', new Fault(planLines(s.plan)), 1);
    expect(r.result.ok).toBe(false);
    expect(r.result.rollbackErrors).toEqual([]);
    expect(await settledDump(before)).toEqual(before);
    await must(['ip', 'route', 'del', '198.51.100.0/24'], { ns: 'kt3-a' });
    await must(['ip', 'route', 'del', '203.0.113.0/24'], { ns: 'kt3-a' });
    await converge(BASE, 'destroy');
  });
});
