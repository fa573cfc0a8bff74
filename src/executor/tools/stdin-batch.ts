// What the tools that read batch lines on stdin (`ip -batch -`, `bridge -batch -`) share: the
// lines of a batch, the progress markers, and how a finished process is read back into steps:
// which ran, which line failed, and how much of the failed step ran.
import type { Step } from '../../planner/types.js';
import { UNKNOWN_PROGRESS } from '../../state/fanout.js';
import { oneLine, parseDump } from '../../state/read.js';
import type { RunResult, Runner } from '../../state/runner.js';
import type { KNamespace } from '../../state/types.js';
import type { Batch, BatchOutcome } from './types.js';

export interface Line {
  step: Step;
  first: boolean;
  text: string;
  /** A progress marker after the step's last line: prints one JSON line when reached. */
  marker?: boolean;
}

const SAFE_ARG = /^[A-Za-z0-9_.:/@+=,%-]+$/;

/** True for an argument that is one plain token in every tool's syntax. */
export const isPlainToken = (a: string): boolean => SAFE_ARG.test(a);

/**
 * One batch line from an argv. ip and bridge split batch lines on whitespace and give quotes
 * and '#' meaning, so every argument must be a plain token: names reach here only after the
 * schema accepted them, and anything else is a bug, never passed on.
 */
export function batchLine(argv: readonly string[]): string {
  for (const a of argv) {
    if (!isPlainToken(a)) throw new Error(`internal: refusing to pass ${JSON.stringify(a)} to a batch: not a plain token`);
  }
  return argv.join(' ');
}

/** The lines of a batch: each step's do lines, in order. */
export function linesOf(batch: Batch, line: (argv: readonly string[]) => string): Line[] {
  const lines: Line[] = [];
  for (const step of batch.steps) step.do.forEach((l, i) => lines.push({ step, first: i === 0, text: line(l) }));
  return lines;
}

/** The lines with a marker after each step's last line, so that stdout counts finished steps. */
export function withMarkers(lines: readonly Line[], marker: string): Line[] {
  const out: Line[] = [];
  lines.forEach((l, i) => {
    out.push(l);
    if (lines[i + 1]?.step !== l.step) out.push({ step: l.step, first: false, text: marker, marker: true });
  });
  return out;
}

/** The process's stdin: the lines, then the reads when the batch reads its namespace back. */
export const inputOf = (lines: readonly Line[], reads: readonly string[]): string => [...lines.map((l) => l.text), ...reads].join('\n') + '\n';

/** What a finished batch process means: which steps ran, which failed, what it read back. */
export function outcomeOf(batch: Batch, lines: readonly Line[], res: RunResult, how: { readBack: boolean; argv: readonly string[] }): BatchOutcome {
  const { argv } = how;
  if (res.exitCode === 0) return { done: batch.steps, ...readOf(batch, res, how.readBack) };
  if (res.exitCode === UNKNOWN_PROGRESS) {
    return { done: [], unknown: batch.steps, failure: { step: batch.steps[0]!, error: res.stderr, command: `${argv.join(' ')} in ${batch.ns ?? 'the host'}` } };
  }
  // "Command failed -:N": lines before N ran, line N failed, the rest did not run.
  const m = /Command failed -:(\d+)/.exec(res.stderr);
  const failedIndex = m ? Number(m[1]) - 1 : -1;
  const errorText = oneLine(res.stderr.replace(/Command failed -:\d+/g, '')) || `${argv[0]} exited with ${res.exitCode}`;
  if (failedIndex < 0) return unnamedFailure(batch, lines, res, errorText, argv);
  if (failedIndex >= lines.length) return { done: batch.steps }; // the reads after the lines failed
  return namedFailure(batch, lines, failedIndex, errorText, argv[0]!);
}

function readOf(batch: Batch, res: RunResult, readBack: boolean): { read?: KNamespace } {
  if (!readBack) return {};
  try {
    return { read: parseDump(batch.ns, res.stdout) };
  } catch {
    return {}; // verification will read it again
  }
}

/** The process failed without naming a line. */
function unnamedFailure(batch: Batch, lines: readonly Line[], res: RunResult, errorText: string, argv: readonly string[]): BatchOutcome {
  if (lines.some((l) => l.marker)) {
    // ip exits 255 from the middle of some argument errors: each marker on stdout is a
    // finished step; the next step failed somewhere in its lines.
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
  if (res.exitCode === 255) {
    // ip died in the middle without naming the line, in a batch without markers (one of many
    // namespaces' batches): any of its steps may have run. All are undone.
    return { done: [], unknown: batch.steps, failure: { step: batch.steps[0]!, error: errorText, command: `${argv.join(' ')} in ${batch.ns ?? 'the host'}` } };
  }
  // The process failed outside our lines (could not enter the namespace).
  return { done: [], failure: { step: batch.steps[0]!, error: errorText, command: argv.join(' ') } };
}

/** Line `failedIndex` failed: the steps before it ran, its own step ran in part. */
function namedFailure(batch: Batch, lines: readonly Line[], failedIndex: number, errorText: string, program: string): BatchOutcome {
  const failedLine = lines[failedIndex]!;
  if (failedLine.marker) {
    // Its step's own lines all ran.
    const through = [...new Set(lines.slice(0, failedIndex + 1).map((l) => l.step))];
    return { done: through, failure: { step: failedLine.step, error: errorText, command: `${program} ${failedLine.text}` } };
  }
  const done = [...new Set(lines.slice(0, failedIndex).map((l) => l.step))].filter((s) => s !== failedLine.step);
  return {
    done,
    ...(failedLine.first ? {} : { partial: partialStep(failedLine.step, failedIndex - lines.findIndex((l) => l.step === failedLine.step)) }),
    failure: { step: failedLine.step, error: errorText, command: `${program} ${failedLine.text}` },
  };
}

/**
 * A step that ran its first `ran` lines. When its undo mirrors its lines one for one (in
 * reverse), only the mirrors of the lines that ran are undone; otherwise all of it. Commands
 * after the mirrors restore what the kernel removes along with the step's lines (e.g. routes
 * when a link loses its last IPv4 address) and are kept.
 */
export function partialStep(step: Step, ran: number): Step {
  const n = step.do.length;
  if (step.undo.length < n) return step;
  return { ...step, undo: [...step.undo.slice(n - ran, n), ...step.undo.slice(n)] };
}

/** Runs undo lines with -force (one error does not stop the rest); the error names where. */
export async function forceBatch(runner: Runner, program: string, host: string, ns: string | null, argvs: readonly (readonly string[])[]): Promise<string[]> {
  const res = await runner.run([program, '-force', '-batch', '-'], { ns, input: `${argvs.map((l) => batchLine(l)).join('\n')}\n` });
  return res.exitCode === 0 ? [] : [`${ns ? `namespace ${ns}` : `host ${host}`}: ${oneLine(res.stderr)}`];
}
