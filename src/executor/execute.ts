// execute(plan): runs the steps as batches, one process per tool and namespace per round,
// namespaces in parallel up to the core count. On the first failure (or a signal, or a journal
// that cannot be written) it stops starting new batches, lets running ones finish, and runs the
// undo of every completed step in reverse, journaling the rollback as it goes.
// The last batch of each namespace also reads the namespace back, so verifying costs no
// extra process. Every program is reached through the tool layer (./tools).
import { defaultConcurrency } from '../state/read.js';
import type { Runner } from '../state/runner.js';
import type { KNamespace } from '../state/types.js';
import type { Command, Plan, Step } from '../planner/types.js';
import { commandBatches, groupKey, schedule, type Batch, type ScheduledBatch } from './batch.js';
import { JOURNAL_VERSION, type Journal, type JournalEntry, type JournalHeader } from './journal.js';
import { processStartTime } from './proc.js';
import { toolFor } from './tools/index.js';
import type { BatchOutcome, Failure } from './tools/types.js';
import { phase } from '../timing.js';

export type { Failure };

export type ExecEvent =
  | { type: 'step-start'; step: Step }
  | { type: 'step-done'; step: Step }
  | { type: 'step-failed'; step: Step; error: string }
  | { type: 'rollback-start'; steps: number; reason: 'failure' | Stopped['kind'] }
  | { type: 'rollback-done'; undone: number; errors: string[] };

export interface ExecuteOptions {
  runners: ReadonlyMap<string, Runner>;
  concurrency?: number;
  journal?: Journal;
  onEvent?: (e: ExecEvent) => void;
  /** Append reads to the last batch of each namespace whose tool reads back (default true). */
  readBack?: boolean;
  /** Aborted (Ctrl-C, SIGTERM): start no new batch, let the running ones finish, roll back. */
  signal?: AbortSignal;
  /** What the plan took over from an earlier run's journal (kept in this run's journal). */
  adopted?: JournalHeader['adopted'];
  /** The highest ifindexes before the run (kept in its journal: adoption's witness after a kill). */
  ifindexes?: JournalHeader['ifindexes'];
}

/** Why a run stopped before its end when no step failed. */
export type Stopped =
  /** A signal: the batches not started were not run, the rest rolled back. */
  | { kind: 'interrupted' }
  /** The journal could not be written: before anything ran (refused), or mid-run (rolled back). */
  | { kind: 'journal'; error: string; before: boolean };

export interface ExecuteResult {
  ok: boolean;
  failure?: Failure;
  /** Set when the run stopped for another reason than a failed step. */
  stopped?: Stopped;
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
  stopped?: Stopped;

  constructor(private readonly opts: ExecuteOptions) {}

  /** A step failed or the run was stopped: no new batch starts. */
  get halted(): boolean {
    return this.failure !== undefined || this.stopped !== undefined;
  }

  emit(e: ExecEvent): void {
    this.opts.onEvent?.(e);
  }

  /**
   * Appends a journal line. A line that cannot be written stops the run (it is rolled back:
   * what runs unjournaled could not be recognised after a kill); throws when `required` (a batch
   * must not start unless its "started" line is written).
   */
  journal(entry: JournalEntry, opts: { required: boolean } = { required: false }): void {
    try {
      this.opts.journal?.record(entry);
    } catch (err) {
      if (!this.stopped) this.stopped = { kind: 'journal', error: `cannot write ${this.opts.journal!.progressPath}: ${errorText(err)}`, before: false };
      if (opts.required) throw new JournalWriteError((err as Error).message);
    }
  }

  started(steps: readonly Step[]): void {
    this.journal({ type: 'started', steps: steps.map((s) => s.id), at: now() }, { required: true });
    for (const st of steps) this.emit({ type: 'step-start', step: st });
  }

  /** Records a finished batch (the journal line too, unless it is one of a group's). */
  settle(batch: Batch, outcome: BatchOutcome, opts: { journal: boolean }): void {
    this.completed.push(...outcome.done);
    this.unknown.push(...(outcome.unknown ?? []));
    for (const s of outcome.done) this.emit({ type: 'step-done', step: s });
    if (opts.journal) this.journal({ type: 'batch', done: outcome.done.map((s) => s.id), at: now() });
    if (outcome.read) {
      const byNs = this.reads.get(batch.host) ?? new Map<string, KNamespace>();
      byNs.set(batch.ns ?? '', outcome.read);
      this.reads.set(batch.host, byNs);
    }
    if (outcome.partial) this.partials.push(outcome.partial);
    if (outcome.failure && !this.failure) {
      this.failure = outcome.failure;
      this.emit({ type: 'step-failed', step: outcome.failure.step, error: outcome.failure.error });
      this.journal({ type: 'failed', step: outcome.failure.step.id, error: outcome.failure.error, at: now() });
    }
  }
}

/** A journal line that had to be written before a batch could start was not. */
class JournalWriteError extends Error {
  override name = 'JournalWriteError';
}

const FS_PROBLEM: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
};

/** An fs error in words ("no space left on the device (ENOSPC)"). */
export const errorText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e.code && FS_PROBLEM[e.code] ? `${FS_PROBLEM[e.code]} (${e.code})` : e.message;
};

const crashed = (batch: Batch, err: Error): BatchOutcome => ({
  done: [],
  failure: { step: batch.steps[0]!, error: err.message, command: `${toolFor(batch.tool).program} -batch - (host ${batch.host})` },
});

export async function execute(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const batches = schedule(plan.steps);
  const progress = new Progress(opts);
  try {
    opts.journal?.begin(journalHeader(plan, opts));
  } catch (err) {
    // Nothing ran: a run that cannot be journaled is refused.
    const path = opts.journal!.path;
    return { ok: false, stopped: { kind: 'journal', error: `cannot write ${path}: ${errorText(err)}`, before: true }, rollbackErrors: [], completed: [], reads: new Map() };
  }
  const allStarted = await runBatches(batches, { opts, progress, concurrency, readBackOf: readBackRule(plan, batches, opts) });
  phase('batches done');
  // A signal after the last batch started changes nothing: the run is complete.
  if (opts.signal?.aborted && !allStarted && !progress.halted) progress.stopped = { kind: 'interrupted' };
  const { completed, failure, stopped, reads } = progress;
  if (!progress.halted) {
    progress.journal({ type: 'finished', at: now() });
    return { ok: true, rollbackErrors: [], completed, reads };
  }
  const toUndo = [...completed, ...progress.partials];
  const reason = failure ? 'failure' : stopped!.kind;
  progress.emit({ type: 'rollback-start', steps: toUndo.length + progress.unknown.length, reason });
  // Steps that may not have run are undone first (they came last); their undo may find nothing
  // to undo, so its errors mean nothing. The engine's check after the rollback compares the
  // owned state with the state before.
  const order = [...progress.unknown, ...toUndo];
  progress.journal({ type: 'rollback', steps: order.map((s) => s.id), at: now() });
  const journal = (e: JournalEntry) => progress.journal(e);
  if (progress.unknown.length) await rollback(progress.unknown, opts.runners, concurrency, { journal });
  const rollbackErrors = await rollback(toUndo, opts.runners, concurrency, { journal });
  progress.emit({ type: 'rollback-done', undone: toUndo.length, errors: rollbackErrors });
  closeJournal(opts.journal, { type: 'rolled-back', undone: toUndo.map((s) => s.id), errors: rollbackErrors, at: now() });
  return { ok: false, ...(failure ? { failure } : {}), ...(stopped ? { stopped } : {}), rollbackErrors, completed, reads: new Map() };
}

/** A step as the journal keeps it: its tool's journal form of each argv (file contents left out). */
function journalStep(s: Step): JournalHeader['steps'][number] {
  const form = toolFor(s.tool).journalArgv;
  const doArgvs = form ? s.do.map((argv) => form(argv)) : s.do;
  const undo = s.undo.map((c) => {
    const f = toolFor(c.tool).journalArgv;
    return f ? { ...c, argv: f(c.argv) } : c;
  });
  return { id: s.id, host: s.host, ns: s.ns, tool: s.tool, address: s.address, description: s.description, do: doArgvs, undo, creates: s.creates, marks: s.marks };
}

function journalHeader(plan: Plan, opts: ExecuteOptions): JournalHeader {
  return {
    version: JOURNAL_VERSION,
    topology: plan.topology,
    file: '',
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    started: now(),
    steps: plan.steps.map(journalStep),
    ...(opts.adopted?.length ? { adopted: opts.adopted } : {}),
    ...(opts.ifindexes ? { ifindexes: opts.ifindexes } : {}),
  };
}

/**
 * The rollback's last line: the run ended. When the directory is full, the progress is replaced
 * by that line alone (truncating frees the room): a rolled-back run need not be recognised.
 */
function closeJournal(journal: Journal | undefined, entry: JournalEntry): void {
  if (!journal) return;
  try {
    journal.record(entry);
  } catch {
    try {
      journal.replaceProgress([entry]);
    } catch {
      // Left open: the next plan repairs from it (and says the journal was interrupted).
    }
  }
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
  try {
    d.progress.started(batch.steps);
  } catch {
    return; // its "started" line could not be written: it does not run (progress.stopped says why)
  }
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
    if (err instanceof JournalWriteError) return; // nothing started (progress.stopped says why)
    for (const b of group) d.progress.settle(b, crashed(b, err as Error), { journal: true });
    return;
  }
  // One journal line for the whole group (they ran together).
  d.progress.journal({ type: 'batch', done: outcomes.flatMap((o) => o.done.map((s) => s.id)), at: now() });
  group.forEach((b, i) => d.progress.settle(b, outcomes[i]!, { journal: false }));
}

/**
 * Starts every batch whose dependencies are done; after each finishes, looks again. A failure
 * or the abort signal stops the starting; what runs is let finish. True when every batch started.
 */
async function runBatches(batches: readonly ScheduledBatch[], d: Driving): Promise<boolean> {
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
    if (!d.progress.halted && !d.opts.signal?.aborted) {
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
  return started.size === batches.length;
}

export interface RollbackOptions {
  /** Journals each undo batch before and after it runs (which steps' undo it carries). */
  journal?: (e: JournalEntry) => void;
}

/**
 * Undoes steps in reverse order of completion. Commands inside namespaces that the rollback
 * deletes anyway are skipped (deleting the namespace takes them along). Each tool runs its
 * undo so that one error does not stop the rest; errors are returned. With a journal, each
 * batch of undo commands is recorded as begun and done by the steps whose undo it holds, so that
 * what a killed rollback re-made (a namespace, a link, not yet marked) is recognised after.
 */
export async function rollback(steps: readonly Step[], runners: ReadonlyMap<string, Runner>, _concurrency: number, opts: RollbackOptions = {}): Promise<string[]> {
  const owned = [...steps].reverse().flatMap((s) => s.undo.map((c) => ({ ...c, step: s.id })));
  const kept = withoutDoomedCommands(owned);
  const errors: string[] = [];
  for (const b of commandBatches(kept)) {
    const runner = runners.get(b.host)!;
    const ids = [...new Set(b.commands.map((c) => c.step))];
    opts.journal?.({ type: 'undo-started', steps: ids, at: now() });
    try {
      errors.push(...(await toolFor(b.tool).undo(runner, b.host, b.ns, b.lines)));
    } catch (err) {
      errors.push(`host ${b.host}: ${(err as Error).message}`);
    }
    opts.journal?.({ type: 'undo-done', steps: ids, at: now() });
  }
  return errors;
}

/**
 * The commands without those inside a namespace that the next thing the rollback does to is
 * to delete it; not when it is deleted and made again (a plan that swaps names), since the
 * commands after making it rebuild the new one.
 */
function withoutDoomedCommands<C extends Command>(commands: readonly C[]): C[] {
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
