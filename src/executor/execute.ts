// execute(plan): runs the steps as batches, one `ip -batch -` per namespace per round,
// namespaces in parallel up to the core count. On the first failure it stops starting new
// batches, lets running ones finish, and runs the undo of every completed step in reverse.
// The last batch of each namespace also reads the namespace back, so verifying costs no
// extra process.
import { defaultConcurrency, parseDump, READ_FLAGS, READ_LINES, oneLine } from '../state/read.js';
import { runInNamespaces, UNKNOWN_PROGRESS } from '../state/fanout.js';
import type { RunResult, Runner } from '../state/runner.js';
import type { KNamespace } from '../state/types.js';
import type { Plan, Step, Tool } from '../planner/types.js';
import { batchLine, commandBatches, groupKey, nftLine, schedule, sysctlArg, type Batch, type ScheduledBatch } from './batch.js';
import { JOURNAL_VERSION, type Journal } from './journal.js';
import { processStartTime } from './proc.js';
import { phase } from '../timing.js';

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
  /** Append reads to the last ip batch of each namespace (default true). */
  readBack?: boolean;
}

export interface Failure {
  step: Step;
  /** The command's own error text. */
  error: string;
  /** The batch line that failed. */
  command: string;
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

interface BatchOutcome {
  done: Step[];
  /** Steps that ran some but not all of their lines. */
  partial?: Step;
  /** Steps that may or may not have run (their process's outcome could not be told). */
  unknown?: Step[];
  failure?: Failure;
  read?: KNamespace;
}

const PROGRAM: Record<Tool, string> = { ip: 'ip', bridge: 'bridge', sysctl: 'sysctl', nft: 'nft' };

export async function execute(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const batches = schedule(plan.steps);
  const emit = opts.onEvent ?? (() => {});
  // The last ip batch of each namespace reads it back, unless the namespace is deleted at the end.
  const lastIp = new Map<string, Batch>();
  for (const b of batches) if (b.tool === 'ip') lastIp.set(groupKey(b), b);
  const namespaces = (verb: 'add' | 'del') =>
    new Set(plan.steps.flatMap((s) => s.do.filter((l) => s.tool === 'ip' && l[0] === 'netns' && l[1] === verb).map((l) => `${s.host}\u0000${l[2]}`)));
  const deleted = namespaces('del');
  const created = namespaces('add');

  opts.journal?.begin({
    version: JOURNAL_VERSION,
    topology: plan.topology,
    file: '',
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    started: new Date().toISOString(),
    steps: plan.steps.map((s) => ({ id: s.id, host: s.host, ns: s.ns, tool: s.tool, address: s.address, description: s.description, do: s.do, undo: s.undo })),
  });

  const completed: Step[] = [];
  const unknown: Step[] = [];
  const reads = new Map<string, Map<string, KNamespace>>();
  let failure: Failure | undefined;
  /** Steps that ran in part: of every failed batch, not only the first (batches run at once). */
  const partials: Step[] = [];
  const readBackOf = (batch: Batch) => {
    const key = `${batch.host}\u0000${batch.ns ?? ''}`;
    return (opts.readBack ?? true) && batch.tool === 'ip' && lastIp.get(groupKey(batch)) === batch && !(batch.ns !== null && deleted.has(key) && !created.has(key));
  };
  const settle = (batch: Batch, outcome: BatchOutcome, journal = true) => {
    completed.push(...outcome.done);
    unknown.push(...(outcome.unknown ?? []));
    for (const s of outcome.done) emit({ type: 'step-done', step: s });
    if (journal) opts.journal?.record({ type: 'batch', done: outcome.done.map((s) => s.id), at: new Date().toISOString() });
    if (outcome.read) {
      const byNs = reads.get(batch.host) ?? new Map<string, KNamespace>();
      byNs.set(batch.ns ?? '', outcome.read);
      reads.set(batch.host, byNs);
    }
    if (outcome.partial) partials.push(outcome.partial);
    if (outcome.failure && !failure) {
      failure = outcome.failure;
      emit({ type: 'step-failed', step: failure.step, error: failure.error });
      opts.journal?.record({ type: 'failed', step: failure.step.id, error: failure.error, at: new Date().toISOString() });
    }
  };
  const crashed = (batch: Batch, err: Error): BatchOutcome => ({
    done: [],
    failure: { step: batch.steps[0]!, error: err.message, command: `${PROGRAM[batch.tool]} -batch - (host ${batch.host})` },
  });
  const runnerOf = (b: Batch) => {
    const r = opts.runners.get(b.host);
    if (!r) throw new Error(`internal: no runner for host ${b.host}`);
    return r;
  };
  const journalStart = (steps: readonly Step[]) => opts.journal?.record({ type: 'started', steps: steps.map((s) => s.id), at: new Date().toISOString() });
  const runSingle = async (batch: Batch) => {
    journalStart(batch.steps);
    for (const st of batch.steps) emit({ type: 'step-start', step: st });
    settle(batch, await runBatch(runnerOf(batch), batch, readBackOf(batch)).catch((err: Error) => crashed(batch, err)));
  };
  // ip batches in sandbox namespaces go out together, per host (xargs workers on this machine).
  const runFanned = async (group: Batch[]) => {
    const runner = runnerOf(group[0]!);
    let prepared: { batch: Batch; readBack: boolean; lines: Line[] }[];
    try {
      prepared = group.map((b) => ({ batch: b, readBack: readBackOf(b), lines: batchLines(b) }));
    } catch (err) {
      for (const b of group) settle(b, crashed(b, err as Error));
      return;
    }
    journalStart(group.flatMap((b) => b.steps));
    for (const b of group) for (const st of b.steps) emit({ type: 'step-start', step: st });
    let results: RunResult[];
    try {
      results = await runInNamespaces(
        runner,
        READ_FLAGS,
        prepared.map((p) => ({ ns: p.batch.ns!, input: inputOf(p.lines, p.readBack), outputLines: p.readBack ? READ_LINES.length : 0 })),
        concurrency,
        false,
      );
    } catch (err) {
      for (const b of group) settle(b, crashed(b, err as Error));
      return;
    }
    const outcomes = prepared.map((p, i) => outcomeOf(p.batch, p.lines, results[i]!, p.readBack, ['ip', ...READ_FLAGS, '-batch', '-']));
    // One journal line for the whole group (they ran together).
    opts.journal?.record({ type: 'batch', done: outcomes.flatMap((o) => o.done.map((s) => s.id)), at: new Date().toISOString() });
    prepared.forEach((p, i) => settle(p.batch, outcomes[i]!, false));
  };

  // Start every batch whose dependencies are done; after each finishes, look again. A failure
  // stops the starting; what runs is let finish.
  const finished = new Set<number>();
  const started = new Set<number>();
  const running = new Set<Promise<void>>();
  let singles = 0;
  for (;;) {
    if (!failure) {
      const ready = batches.filter((b) => !started.has(b.index) && [...b.deps].every((d) => finished.has(d)));
      const fanned = new Map<string, ScheduledBatch[]>();
      for (const b of ready) {
        if (b.tool === 'ip' && b.ns !== null) {
          fanned.set(b.host, [...(fanned.get(b.host) ?? []), b]);
          started.add(b.index);
        } else if (singles < concurrency) {
          singles++;
          started.add(b.index);
          const p: Promise<void> = runSingle(b).finally(() => {
            singles--;
            finished.add(b.index);
            running.delete(p);
          });
          running.add(p);
        }
      }
      for (const group of fanned.values()) {
        const p: Promise<void> = runFanned(group).finally(() => {
          for (const b of group) finished.add(b.index);
          running.delete(p);
        });
        running.add(p);
      }
    }
    if (!running.size) break;
    await Promise.race(running);
  }
  phase('batches done');
  if (!failure) {
    opts.journal?.record({ type: 'finished', at: new Date().toISOString() });
    return { ok: true, rollbackErrors: [], completed, reads };
  }
  const toUndo = [...completed, ...partials];
  emit({ type: 'rollback-start', steps: toUndo.length + unknown.length });
  // Steps that may not have run are undone first (they came last); their undo may find nothing
  // to undo, so its errors mean nothing. The engine's check after the rollback compares the
  // owned state with the state before.
  if (unknown.length) await rollback(unknown, opts.runners, concurrency);
  const rollbackErrors = await rollback(toUndo, opts.runners, concurrency);
  emit({ type: 'rollback-done', undone: toUndo.length, errors: rollbackErrors });
  opts.journal?.record({ type: 'rolled-back', undone: toUndo.map((s) => s.id), errors: rollbackErrors, at: new Date().toISOString() });
  return { ok: false, failure, rollbackErrors, completed, reads: new Map() };
}

interface Line {
  step: Step;
  first: boolean;
  text: string;
  /** A progress marker after the step's last line: prints one JSON line when reached. */
  marker?: boolean;
}

/** The marker line: cheap, prints one line under -json, and lo is in every namespace. */
const MARKER = 'link show dev lo';

/** The lines with a marker after each step's last line, so that stdout counts finished steps. */
function withMarkers(lines: readonly Line[]): Line[] {
  const out: Line[] = [];
  lines.forEach((l, i) => {
    out.push(l);
    if (lines[i + 1]?.step !== l.step) out.push({ step: l.step, first: false, text: MARKER, marker: true });
  });
  return out;
}

/** How a tool's line is made from an argv: sysctl takes k=v as real arguments (values may hold spaces); ip and bridge read batch lines; nft a script. */
const LINE: Record<Tool, (argv: readonly string[]) => string> = { ip: batchLine, bridge: batchLine, sysctl: sysctlArg, nft: nftLine };

/** The batch's lines. */
function batchLines(batch: Batch): Line[] {
  const line = LINE[batch.tool];
  const lines: Line[] = [];
  for (const step of batch.steps) step.do.forEach((l, i) => lines.push({ step, first: i === 0, text: line(l) }));
  return lines;
}

const inputOf = (lines: readonly Line[], readBack: boolean) => [...lines.map((l) => l.text), ...(readBack ? READ_LINES : [])].join('\n') + '\n';

async function runBatch(runner: Runner, batch: Batch, readBack: boolean): Promise<BatchOutcome> {
  const lines = batchLines(batch);
  if (batch.tool === 'sysctl') {
    // One sysctl process for the round's sysctl steps in this namespace.
    const res = await runner.run(['sysctl', '-q', '-w', ...lines.map((l) => l.text)], { ns: batch.ns });
    if (res.exitCode === 0) return { done: batch.steps };
    const step = batch.steps[0]!;
    return { done: [], partial: step, failure: { step, error: oneLine(res.stderr) || `sysctl exited with ${res.exitCode}`, command: `sysctl -w ${lines.map((l) => l.text).join(' ')}` } };
  }
  if (batch.tool === 'nft') {
    // One nft script: a transaction, so on failure nothing of it was done.
    const res = await runner.run(['nft', '-f', '-'], { input: inputOf(lines, false) });
    if (res.exitCode === 0) return { done: batch.steps };
    const m = /\/dev\/stdin:(\d+):/.exec(res.stderr);
    const failed = (m ? lines[Number(m[1]) - 1] : undefined) ?? lines[0]!;
    const error = res.stderr.split('\n').find((l) => /Error:/.test(l))?.replace(/^.*?Error:\s*/, '').trim() || oneLine(res.stderr) || `nft exited with ${res.exitCode}`;
    return { done: [], failure: { step: failed.step, error, command: `nft ${failed.text}` } };
  }
  // ip batches carry progress markers: ip exits 255 on some argument errors without naming the
  // line, and then the markers printed tell how many steps finished.
  const marked = batch.tool === 'ip' ? withMarkers(lines) : lines;
  const flags = readBack ? READ_FLAGS : batch.tool === 'ip' ? ['-json'] : [];
  const argv = [PROGRAM[batch.tool], ...flags, '-batch', '-'];
  const outcome = outcomeOf(batch, marked, await runner.run(argv, { ns: batch.ns, input: inputOf(marked, readBack) }), readBack, argv);
  // A link deletion that finds the link already gone has nothing left to do: the kernel took it
  // with its namespace (veths go with their namespace, in the background). That step is done;
  // the batch goes on after it.
  const f = outcome.failure;
  if (f && !outcome.partial && f.step.do.length === 1 && f.step.do[0]![0] === 'link' && f.step.do[0]![1] === 'del' && alreadyGone(f.error, f.step.do[0]![2]!)) {
    const rest = batch.steps.slice(batch.steps.indexOf(f.step) + 1);
    const again = rest.length ? await runBatch(runner, { ...batch, steps: rest }, readBack) : { done: [] };
    return { ...again, done: [...outcome.done, f.step, ...again.done] };
  }
  return outcome;
}

/** True when ip says that the device to delete, by its name, does not exist (any more). */
const alreadyGone = (error: string, dev: string): boolean => error.includes(`Cannot find device "${dev}"`) || (error.includes('No such device') && !/Cannot find device/.test(error));

/** What a finished batch process means: which steps ran, which failed, what it read back. */
function outcomeOf(batch: Batch, lines: readonly Line[], res: RunResult, readBack: boolean, argv: readonly string[]): BatchOutcome {
  if (res.exitCode === 0) {
    let read: KNamespace | undefined;
    if (readBack) {
      try {
        read = parseDump(batch.ns, res.stdout);
      } catch {
        read = undefined; // verification will read it again
      }
    }
    return { done: batch.steps, ...(read ? { read } : {}) };
  }
  if (res.exitCode === UNKNOWN_PROGRESS) {
    return { done: [], unknown: batch.steps, failure: { step: batch.steps[0]!, error: res.stderr, command: `${argv.join(' ')} in ${batch.ns ?? 'the host'}` } };
  }
  // "Command failed -:N": lines before N ran, line N failed, the rest did not run.
  const m = /Command failed -:(\d+)/.exec(res.stderr);
  const failedIndex = m ? Number(m[1]) - 1 : -1;
  const errorText = oneLine(res.stderr.replace(/Command failed -:\d+/g, '')) || `${argv[0]} exited with ${res.exitCode}`;
  if (failedIndex < 0 && lines.some((l) => l.marker)) {
    // No line named (ip exits 255 from the middle of some argument errors): each marker on
    // stdout is a finished step; the next step failed somewhere in its lines.
    const finished = res.stdout.split('\n').filter((l) => l.trim() !== '').length;
    if (finished >= batch.steps.length) return { done: batch.steps };
    const step = batch.steps[finished]!;
    return {
      done: batch.steps.slice(0, finished),
      // How many of its lines ran is not known: its undo runs whole, and may find nothing.
      ...(res.exitCode === 255 ? { unknown: [step] } : {}),
      failure: { step, error: errorText, command: `${argv[0]} ${step.do.map((l) => l.join(' ')).join(' / ')}` },
    };
  }
  if (failedIndex < 0 && res.exitCode === 255) {
    // ip died in the middle without naming the line, in a batch without markers (one of many
    // namespaces' batches): any of its steps may have run. All are undone.
    return { done: [], unknown: batch.steps, failure: { step: batch.steps[0]!, error: errorText, command: `${argv.join(' ')} in ${batch.ns ?? 'the host'}` } };
  }
  if (failedIndex < 0 || failedIndex >= lines.length) {
    // The process failed outside our lines (could not enter the namespace, reads failed).
    if (failedIndex >= lines.length) return { done: batch.steps };
    const step = batch.steps[0]!;
    return { done: [], failure: { step, error: errorText, command: argv.join(' ') } };
  }
  const failedLine = lines[failedIndex]!;
  if (failedLine.marker) {
    // Its step's own lines all ran.
    const through = [...new Set(lines.slice(0, failedIndex + 1).map((l) => l.step))];
    return { done: through, failure: { step: failedLine.step, error: errorText, command: `${argv[0]} ${failedLine.text}` } };
  }
  const done = [...new Set(lines.slice(0, failedIndex).map((l) => l.step))].filter((s) => s !== failedLine.step);
  return {
    done,
    ...(failedLine.first ? {} : { partial: partialStep(failedLine.step, failedIndex - lines.findIndex((l) => l.step === failedLine.step)) }),
    failure: { step: failedLine.step, error: errorText, command: `${PROGRAM[batch.tool]} ${failedLine.text}` },
  };
}

/**
 * A step that ran its first `ran` lines. When its undo mirrors its lines one for one (in
 * reverse), only the mirrors of the lines that ran are undone; otherwise all of it. Commands
 * after the mirrors were added with extendUndo (what the kernel removes along with the step's
 * lines, e.g. routes when a link loses its last IPv4 address) and are kept.
 */
function partialStep(step: Step, ran: number): Step {
  const n = step.do.length;
  if (step.undo.length < n) return step;
  return { ...step, undo: [...step.undo.slice(n - ran, n), ...step.undo.slice(n)] };
}

/**
 * Undoes steps in reverse order of completion. Commands inside namespaces that the rollback
 * deletes anyway are skipped (deleting the namespace takes them along). Rollback batches run
 * with -force so that one error does not stop the rest; errors are returned.
 */
export async function rollback(steps: readonly Step[], runners: ReadonlyMap<string, Runner>, _concurrency: number): Promise<string[]> {
  const commands = [...steps].reverse().flatMap((s) => s.undo);
  // A command inside namespace X is skipped when the next thing the rollback does to X is to
  // delete it; not when X is deleted and made again (a plan that swaps names), since the
  // commands after `netns add X` rebuild the new X.
  const next = new Map<string, 'add' | 'del'>();
  const keep = new Array<boolean>(commands.length);
  for (let i = commands.length - 1; i >= 0; i--) {
    const c = commands[i]!;
    if (c.tool === 'ip' && c.argv[0] === 'netns' && (c.argv[1] === 'del' || c.argv[1] === 'add')) next.set(`${c.host}\u0000${c.argv[2]}`, c.argv[1]);
    keep[i] = c.ns === null || next.get(`${c.host}\u0000${c.ns}`) !== 'del';
  }
  const kept = commands.filter((_, i) => keep[i]);
  const errors: string[] = [];
  for (const b of commandBatches(kept)) {
    const runner = runners.get(b.host)!;
    try {
      await undoBatch(runner, b, errors);
    } catch (err) {
      errors.push(`host ${b.host}: ${(err as Error).message}`);
    }
  }
  return errors;
}

async function undoBatch(runner: Runner, b: ReturnType<typeof commandBatches>[number], errors: string[]): Promise<void> {
  {
    if (b.tool === 'sysctl') {
      const res = await runner.run(['sysctl', '-q', '-w', ...b.lines.map((l) => sysctlArg(l))], { ns: b.ns });
      if (res.exitCode !== 0) errors.push(`sysctl in ${b.ns ?? 'host'}: ${oneLine(res.stderr)}`);
      return;
    }
    if (b.tool === 'nft') {
      // An nft script is all or nothing: one line each, so that one error does not stop the rest.
      for (const l of b.lines) {
        const res = await runner.run(['nft', '-f', '-'], { input: `${nftLine(l)}\n` });
        if (res.exitCode !== 0) errors.push(`host ${b.host}: nft ${nftLine(l)}: ${oneLine(res.stderr)}`);
      }
      return;
    }
    const res = await runner.run([PROGRAM[b.tool], '-force', '-batch', '-'], { ns: b.ns, input: `${b.lines.map((l) => batchLine(l)).join('\n')}\n` });
    if (res.exitCode !== 0) errors.push(`${b.ns ? `namespace ${b.ns}` : `host ${b.host}`}: ${oneLine(res.stderr)}`);
  }
}
