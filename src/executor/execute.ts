// execute(plan): runs the steps as batches, one process per tool and namespace per round,
// namespaces in parallel up to the core count. On the first failure it stops starting new
// batches, lets running ones finish, and runs the undo of every completed step in reverse.
// The last batch of each namespace also reads the namespace back, so verifying costs no
// extra process. Every program is reached through the tool layer (./tools).
import { defaultConcurrency } from '../state/read.js';
import type { Runner } from '../state/runner.js';
import type { KNamespace } from '../state/types.js';
import type { Command, Plan, Step } from '../planner/types.js';
import { commandBatches, groupKey, schedule, type Batch, type ScheduledBatch } from './batch.js';
import { JOURNAL_VERSION, type Journal } from './journal.js';
import { processStartTime } from './proc.js';
import { toolFor } from './tools/index.js';
import type { BatchOutcome, Failure } from './tools/types.js';
import { phase } from '../timing.js';

export type { Failure };

export type ExecEvent =
  | { type: 'step-start'; step: Step }
  | { type: 'step-done'; step: Step }
  | { type: 'step-failed'; step: Step; error: string }
  | { type: 'rollback-start'; steps: number }
  | { type: 'rollback-done'; undone: number; errors: string[] };

export interface ExecuteOptions {
  runners: ReadonlyMap<string, Runner>;
  concurrency?: number;
  journal?: Journal;
  onEvent?: (e: ExecEvent) => void;
  /** Append reads to the last batch of each namespace whose tool reads back (default true). */
  readBack?: boolean;
}

export interface ExecuteResult {
  ok: boolean;
  failure?: Failure;
  /** Errors met while undoing (the kernel may not be as it was). */
  rollbackErrors: string[];
  completed: Step[];
  /** Namespaces read back by the last batch run in them: host -> ns name ('' = own stack). */
  reads: Map<string, Map<string, KNamespace>>;
}

const now = () => new Date().toISOString();
const nsKey = (host: string, ns: string) => `${host}\u0000${ns}`;

/** What one run of a plan has done so far. */
class Progress {
  readonly completed: Step[] = [];
  readonly unknown: Step[] = [];
  /** Steps that ran in part: of every failed batch, not only of the first (batches run at once). */
  readonly partials: Step[] = [];
  readonly reads = new Map<string, Map<string, KNamespace>>();
  failure?: Failure;

  constructor(private readonly opts: ExecuteOptions) {}

  emit(e: ExecEvent): void {
    this.opts.onEvent?.(e);
  }

  started(steps: readonly Step[]): void {
    this.opts.journal?.record({ type: 'started', steps: steps.map((s) => s.id), at: now() });
    for (const st of steps) this.emit({ type: 'step-start', step: st });
  }

  /** Records a finished batch (the journal line too, unless it is one of a group's). */
  settle(batch: Batch, outcome: BatchOutcome, opts: { journal: boolean }): void {
    this.completed.push(...outcome.done);
    this.unknown.push(...(outcome.unknown ?? []));
    for (const s of outcome.done) this.emit({ type: 'step-done', step: s });
    if (opts.journal) this.opts.journal?.record({ type: 'batch', done: outcome.done.map((s) => s.id), at: now() });
    if (outcome.read) {
      const byNs = this.reads.get(batch.host) ?? new Map<string, KNamespace>();
      byNs.set(batch.ns ?? '', outcome.read);
      this.reads.set(batch.host, byNs);
    }
    if (outcome.partial) this.partials.push(outcome.partial);
    if (outcome.failure && !this.failure) {
      this.failure = outcome.failure;
      this.emit({ type: 'step-failed', step: outcome.failure.step, error: outcome.failure.error });
      this.opts.journal?.record({ type: 'failed', step: outcome.failure.step.id, error: outcome.failure.error, at: now() });
    }
  }
}

const crashed = (batch: Batch, err: Error): BatchOutcome => ({
  done: [],
  failure: { step: batch.steps[0]!, error: err.message, command: `${toolFor(batch.tool).program} -batch - (host ${batch.host})` },
});

export async function execute(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const batches = schedule(plan.steps);
  const progress = new Progress(opts);
  opts.journal?.begin({
    version: JOURNAL_VERSION,
    topology: plan.topology,
    file: '',
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    started: now(),
    steps: plan.steps.map((s) => ({ id: s.id, host: s.host, ns: s.ns, tool: s.tool, address: s.address, description: s.description, do: s.do, undo: s.undo, creates: s.creates, marks: s.marks })),
  });
  await runBatches(batches, { opts, progress, concurrency, readBackOf: readBackRule(plan, batches, opts) });
  phase('batches done');
  const { completed, failure, reads } = progress;
  if (!failure) {
    opts.journal?.record({ type: 'finished', at: now() });
    return { ok: true, rollbackErrors: [], completed, reads };
  }
  const toUndo = [...completed, ...progress.partials];
  progress.emit({ type: 'rollback-start', steps: toUndo.length + progress.unknown.length });
  // Steps that may not have run are undone first (they came last); their undo may find nothing
  // to undo, so its errors mean nothing. The engine's check after the rollback compares the
  // owned state with the state before.
  if (progress.unknown.length) await rollback(progress.unknown, opts.runners, concurrency);
  const rollbackErrors = await rollback(toUndo, opts.runners, concurrency);
  progress.emit({ type: 'rollback-done', undone: toUndo.length, errors: rollbackErrors });
  opts.journal?.record({ type: 'rolled-back', undone: toUndo.map((s) => s.id), errors: rollbackErrors, at: now() });
  return { ok: false, failure, rollbackErrors, completed, reads: new Map() };
}

/**
 * Which batch reads its namespace back: the last batch of each namespace whose tool can, unless
 * the plan deletes that namespace (and does not make it again).
 */
function readBackRule(plan: Plan, batches: readonly Batch[], opts: ExecuteOptions): (b: Batch) => boolean {
  const last = new Map<string, Batch>();
  for (const b of batches) if (toolFor(b.tool).readsBack) last.set(groupKey(b), b);
  const namespaces = (list: 'creates' | 'deletes') =>
    new Set(plan.steps.flatMap((s) => s[list].filter((o) => o.kind === 'netns').map((o) => nsKey(s.host, o.name))));
  const deleted = namespaces('deletes');
  const created = namespaces('creates');
  return (b) => {
    if (!(opts.readBack ?? true) || last.get(groupKey(b)) !== b) return false;
    return b.ns === null || !deleted.has(nsKey(b.host, b.ns)) || created.has(nsKey(b.host, b.ns));
  };
}

interface Driving {
  opts: ExecuteOptions;
  progress: Progress;
  concurrency: number;
  readBackOf: (b: Batch) => boolean;
}

const runnerOf = (opts: ExecuteOptions, b: Batch): Runner => {
  const r = opts.runners.get(b.host);
  if (!r) throw new Error(`internal: no runner for host ${b.host}`);
  return r;
};

/** One batch, alone. */
async function runSingle(d: Driving, batch: Batch): Promise<void> {
  d.progress.started(batch.steps);
  const outcome = await toolFor(batch.tool)
    .run(runnerOf(d.opts, batch), batch, { readBack: d.readBackOf(batch) })
    .catch((err: Error) => crashed(batch, err));
  d.progress.settle(batch, outcome, { journal: true });
}

/** Batches of one host and tool, each in its own sandbox namespace, run together by the tool. */
async function runGroup(d: Driving, group: Batch[]): Promise<void> {
  const tool = toolFor(group[0]!.tool);
  let outcomes: BatchOutcome[];
  try {
    outcomes = await tool.runMany!(runnerOf(d.opts, group[0]!), group, {
      readBack: d.readBackOf,
      concurrency: d.concurrency,
      starting: () => d.progress.started(group.flatMap((b) => b.steps)),
    });
  } catch (err) {
    for (const b of group) d.progress.settle(b, crashed(b, err as Error), { journal: true });
    return;
  }
  // One journal line for the whole group (they ran together).
  d.opts.journal?.record({ type: 'batch', done: outcomes.flatMap((o) => o.done.map((s) => s.id)), at: now() });
  group.forEach((b, i) => d.progress.settle(b, outcomes[i]!, { journal: false }));
}

/**
 * Starts every batch whose dependencies are done; after each finishes, looks again. A failure
 * stops the starting; what runs is let finish.
 */
async function runBatches(batches: readonly ScheduledBatch[], d: Driving): Promise<void> {
  const finished = new Set<number>();
  const started = new Set<number>();
  const running = new Set<Promise<void>>();
  let singles = 0;
  const track = (p: Promise<void>, done: () => void) => {
    const q: Promise<void> = p.finally(() => {
      done();
      running.delete(q);
    });
    running.add(q);
  };
  for (;;) {
    if (!d.progress.failure) {
      const groups = new Map<string, ScheduledBatch[]>();
      for (const b of batches) {
        if (started.has(b.index) || ![...b.deps].every((x) => finished.has(x))) continue;
        if (toolFor(b.tool).runMany && b.ns !== null) {
          const key = `${b.host}\u0000${b.tool}`;
          groups.set(key, [...(groups.get(key) ?? []), b]);
          started.add(b.index);
        } else if (singles < d.concurrency) {
          singles++;
          started.add(b.index);
          track(runSingle(d, b), () => {
            singles--;
            finished.add(b.index);
          });
        }
      }
      for (const group of groups.values()) track(runGroup(d, group), () => group.forEach((b) => finished.add(b.index)));
    }
    if (!running.size) break;
    await Promise.race(running);
  }
}

/**
 * Undoes steps in reverse order of completion. Commands inside namespaces that the rollback
 * deletes anyway are skipped (deleting the namespace takes them along). Each tool runs its
 * undo so that one error does not stop the rest; errors are returned.
 */
export async function rollback(steps: readonly Step[], runners: ReadonlyMap<string, Runner>, _concurrency: number): Promise<string[]> {
  const kept = withoutDoomedCommands([...steps].reverse().flatMap((s) => s.undo));
  const errors: string[] = [];
  for (const b of commandBatches(kept)) {
    const runner = runners.get(b.host)!;
    try {
      errors.push(...(await toolFor(b.tool).undo(runner, b.host, b.ns, b.lines)));
    } catch (err) {
      errors.push(`host ${b.host}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/**
 * The commands without those inside a namespace that the next thing the rollback does to is
 * to delete it; not when it is deleted and made again (a plan that swaps names), since the
 * commands after making it rebuild the new one.
 */
function withoutDoomedCommands(commands: readonly Command[]): Command[] {
  const next = new Map<string, 'add' | 'del'>();
  const keep = new Array<boolean>(commands.length);
  for (let i = commands.length - 1; i >= 0; i--) {
    const c = commands[i]!;
    for (const o of c.deletes ?? []) if (o.kind === 'netns') next.set(nsKey(c.host, o.name), 'del');
    for (const o of c.creates ?? []) if (o.kind === 'netns') next.set(nsKey(c.host, o.name), 'add');
    keep[i] = c.ns === null || next.get(nsKey(c.host, c.ns)) !== 'del';
  }
  return commands.filter((_, i) => keep[i]);
}
