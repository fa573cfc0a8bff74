// What apply and destroy share: show the plan, ask, run it with progress, verify, report.
import { createInterface } from 'node:readline/promises';
import { applySession, closeRunners, type ApplyOutcome, type Session } from '../engine/index.js';
import type { ExecEvent } from '../executor/execute.js';
import { Journal } from '../executor/journal.js';
import { renderPlan, summaryLine } from '../planner/render.js';
import { countChanges, type Plan } from '../planner/types.js';
import { EXIT, ExitError } from './errors.js';
import { JSON_FORMAT_VERSION, painter, useColor } from './output.js';
import { hostDescriptions, planToJson } from './plan-json.js';

export interface RunOptions {
  autoApprove?: boolean;
  json?: boolean;
  quiet?: boolean;
  /** A saved plan was given: carry it out without asking. */
  saved?: boolean;
}

async function approve(verb: 'apply' | 'destroy'): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new ExitError(`${verb} changes the kernel and there is no terminal to ask on: run "tsnet ${verb} --auto-approve" to go ahead without asking`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  let answer: string;
  try {
    answer = await rl.question(`\nDo you want to ${verb === 'apply' ? 'perform these actions' : 'destroy all of these resources'}? Only 'yes' will be accepted: `);
  } catch (err) {
    // Ctrl+C or Ctrl+D at the question (readline rejects with an AbortError): a cancel, not a bug.
    if ((err as Error).name !== 'AbortError') throw err;
    const cancelled = `${verb === 'apply' ? 'Apply' : 'Destroy'} cancelled.`;
    process.stderr.write(`\n${cancelled}\n`);
    throw new ExitError(cancelled, EXIT.error, true);
  } finally {
    rl.close();
  }
  if (answer.trim() !== 'yes') throw new ExitError(`${verb} cancelled; nothing was changed`);
}

export async function runPlan(s: Session, file: string, verb: 'apply' | 'destroy', opts: RunOptions): Promise<ApplyOutcome | undefined> {
  const { plan } = s;
  const color = useColor();
  const p = painter(color);
  const say = (text: string) => {
    if (!opts.json && !opts.quiet) process.stdout.write(`${text}\n`);
  };
  const resultLine = (o: object) => process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'result', ...o })}\n`);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...planToJson(plan, file), type: 'plan' })}\n`);
  } else if (plan.errors.length) {
    // A plan with errors is an error: all of it goes to stderr, quiet or not.
    process.stderr.write(`${renderPlan(plan, { file, color: useColor(process.stderr), destroy: verb === 'destroy', hostDescriptions: hostDescriptions(s.runners) })}\n`);
  } else if (!opts.quiet) {
    process.stdout.write(`${renderPlan(plan, { file, color, destroy: verb === 'destroy', hostDescriptions: hostDescriptions(s.runners) })}\n`);
  }
  if (plan.errors.length) {
    if (opts.json) resultLine({ ok: false, errors: plan.errors });
    throw new ExitError('', EXIT.error, true);
  }
  if (!plan.changes.length) {
    if (opts.json) process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'result', ok: true, summary: countChanges([]) })}\n`);
    else if (opts.quiet) process.stdout.write(`${summaryLine(plan, { file, destroy: verb === 'destroy' })}\n`);
    return undefined;
  }
  try {
    if (!opts.autoApprove && !opts.saved) await approve(verb);
  } catch (err) {
    // --json: the last line is always the result, also when nothing ran.
    if (opts.json && err instanceof ExitError) resultLine({ ok: false, error: err.message });
    throw err;
  }

  // listr2 needs a terminal with a width (a pty without one, e.g. under `script`, gets one
  // character per line): plain lines otherwise.
  const listr = process.stdout.isTTY && !opts.quiet && (process.stdout.columns ?? 0) > 0;
  const progress = opts.json ? jsonProgress() : listr ? await listrProgress(plan) : plainProgress(plan, opts.quiet ?? false);
  const started = Date.now();
  const stop = interruptions({ verb, file, session: s, json: Boolean(opts.json) });
  let outcome: ApplyOutcome;
  try {
    outcome = await applySession(s, { onEvent: (e) => (stop.onEvent(e), progress.onEvent(e)), signal: stop.signal });
    await progress.done();
  } finally {
    stop.dispose();
  }
  const n = countChanges(plan.changes);
  const { result, verify } = outcome;
  const signalled = stop.received();
  if (!result.ok) reportStopped(outcome, { file, verb, json: Boolean(opts.json), color, signalled });
  if (signalled && !opts.json) process.stderr.write(`Interrupted (${signalled}) after every step had run: the ${verb} is complete, nothing was rolled back.\n`);
  if (verify && (verify.changes.length || verify.errors.length)) {
    if (opts.json) process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'result', ok: false, verify: planToJson(verify, file) })}\n`);
    else {
      process.stderr.write(`${p.red('Error:')} the ${verb} ran, but the kernel still differs from ${file}:\n`);
      process.stderr.write(`${renderPlan(verify, { file, color: useColor(process.stderr) })}\n`);
    }
    throw new ExitError('', EXIT.error, true);
  }
  if (signalled) throw new ExitError('', signalExit(signalled), true);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (opts.json) process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'result', ok: true, summary: n, seconds: Number(seconds) })}\n`);
  else if (verb === 'destroy') process.stdout.write(`${p.green(`Destroy complete! Resources: ${n.destroy} destroyed.`)} (${seconds}s)\n`);
  else process.stdout.write(`${p.green(`Apply complete! Resources: ${n.add} added, ${n.change} changed, ${n.destroy} destroyed.`)} (${seconds}s)\n`);
  say('');
  return outcome;
}

type Signal = 'SIGINT' | 'SIGTERM';

/** The exit code of a run a signal stopped: 128 + its number, as a shell reports it. */
const signalExit = (sig: Signal): number => (sig === 'SIGINT' ? EXIT.interrupted : EXIT.terminated);

/** Reports a run that did not complete (a failed step, a signal, the journal), and throws its exit. */
function reportStopped(outcome: ApplyOutcome, o: { file: string; verb: 'apply' | 'destroy'; json: boolean; color: boolean; signalled: Signal | undefined }): never {
  const { result } = outcome;
  const p = painter(useColor(process.stderr));
  const differs = outcome.rollbackDiff ?? [];
  const undoErrors = outcome.rollbackErrors ?? result.rollbackErrors;
  const restored = undoErrors.length === 0 && differs.length === 0;
  const code = o.signalled && result.stopped?.kind === 'interrupted' ? signalExit(o.signalled) : EXIT.error;
  const f = result.failure;
  const refused = result.stopped?.kind === 'journal' && result.stopped.before;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        format_version: JSON_FORMAT_VERSION,
        type: 'result',
        ok: false,
        ...(f ? { failed: { step: f.step.id, description: f.step.description, command: f.command, error: f.error } } : {}),
        ...(result.stopped?.kind === 'interrupted' ? { interrupted: o.signalled ?? 'SIGINT' } : {}),
        ...(result.stopped?.kind === 'journal' ? { journal_error: result.stopped.error } : {}),
        rolled_back: !refused,
        restored,
        rollback_errors: undoErrors,
        rollback_diff: differs,
      })}\n`,
    );
    throw new ExitError('', code, true);
  }
  if (f) process.stderr.write(`${p.red('Error:')} step "${f.step.description}" (${f.step.address}) failed\n  ${f.command}\n  ${f.error}\n`);
  else if (result.stopped?.kind === 'journal') {
    process.stderr.write(`${p.red('Error:')} ${result.stopped.error}\n`);
    if (refused) {
      process.stderr.write(`The ${o.verb} was refused before anything changed: tsnet keeps a journal of every run (TSNET_STATE_DIR, default /run/tsnet) so that a killed run can be repaired. Free some room or make it writable, then try again.\n`);
      throw new ExitError('', EXIT.error, true);
    }
    process.stderr.write(`The ${o.verb} stopped: its progress could not be journaled, so it was rolled back.\n`);
  }
  const steps = `${result.completed.length} finished step${result.completed.length === 1 ? '' : 's'}${f ? ', and the failed one as far as it ran' : ''}`;
  process.stderr.write(
    restored
      ? `Rolled back what the ${o.verb} had done (${steps}): the kernel is as it was before.\n`
      : `Rolled back, but the kernel is not as it was before:\n${[...differs, ...undoErrors.map((e) => `undo error: ${e}`)].map((e) => `  ${e}`).join('\n')}\nRun "tsnet plan ${o.file}" to see what to repair.\n`,
  );
  throw new ExitError('', code, true);
}

/**
 * SIGINT and SIGTERM while the plan runs: the first stops the starting of batches (the running
 * ones finish) and the run rolls back; a second stops at once, leaving the journal for the next
 * apply to repair from. ssh control connections are closed on either path (closeRunners after
 * the rollback; signal-exit's exit hook in src/state/ssh.ts when exiting at once).
 */
function interruptions(o: { verb: 'apply' | 'destroy'; file: string; session: Session; json: boolean }) {
  const controller = new AbortController();
  let first: Signal | undefined;
  const say = (text: string) => {
    if (!o.json) process.stderr.write(text);
  };
  const handler = (sig: Signal) => {
    if (!first) {
      first = sig;
      say(`\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping; the running batches finish, then what was done is rolled back (Ctrl-C again to stop at once).\n`);
      controller.abort();
      return;
    }
    const journal = new Journal(o.session.topology.name).path;
    say(`\nStopped at once, in the middle of the ${o.verb}. The journal ${journal} is kept: the next "tsnet apply ${o.file}" (or "tsnet destroy ${o.file}") recognises what this run left and repairs it.\n`);
    if (o.json) process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'result', ok: false, interrupted: sig, stopped_at_once: true, journal })}\n`);
    // Local runners need nothing closed; ssh masters are closed by the exit hook (signal-exit),
    // and asked to close here too in case the exit comes first.
    void closeRunners(o.session.runners).catch(() => {});
    process.exit(signalExit(sig));
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    received: (): Signal | undefined => first,
    onEvent: (e: ExecEvent) => {
      if (e.type === 'rollback-start' && e.reason === 'interrupted') say(`Interrupted: rolling back ${e.steps} step${e.steps === 1 ? '' : 's'}...\n`);
    },
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

interface Progress {
  onEvent: (e: ExecEvent) => void;
  done: () => Promise<void>;
}

/** One JSON line per event, as it happens (README "JSON output"). */
function jsonProgress(): Progress {
  const line = (o: object) => process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, ...o, at: new Date().toISOString() })}\n`);
  return {
    onEvent: (e) => {
      switch (e.type) {
        case 'step-start':
        case 'step-done':
          line({ type: e.type === 'step-start' ? 'step_started' : 'step_finished', step: e.step.id, host: e.step.host, address: e.step.address, description: e.step.description });
          break;
        case 'step-failed':
          line({ type: 'step_failed', step: e.step.id, host: e.step.host, address: e.step.address, description: e.step.description, error: e.error });
          break;
        case 'rollback-start':
          line({ type: 'rollback_started', steps: e.steps });
          break;
        case 'rollback-done':
          line({ type: 'rolled_back', steps: e.undone, errors: e.errors });
          break;
      }
    },
    done: async () => {},
  };
}

/** Plain lines for logs and CI: one per step for small plans, one per tenth for large ones. */
function plainProgress(plan: Plan, quiet: boolean): Progress {
  const total = plan.steps.length;
  let finished = 0;
  let reported = 0;
  const out = (s: string) => {
    if (!quiet) process.stdout.write(`${s}\n`);
  };
  return {
    onEvent: (e) => {
      if (e.type === 'step-done') {
        finished++;
        if (total <= 200) out(`[${finished}/${total}] ${e.step.description}${plan.implicitHost ? '' : ` (host ${e.step.host})`}`);
        else if (finished === total || finished - reported >= Math.ceil(total / 10)) {
          reported = finished;
          out(`[${finished}/${total}] steps done`);
        }
      } else if (e.type === 'step-failed') process.stderr.write(`failed: ${e.step.description}: ${e.error}\n`);
      else if (e.type === 'rollback-start' && e.reason !== 'interrupted') process.stderr.write(`rolling back ${e.steps} step${e.steps === 1 ? '' : 's'}...\n`);
    },
    done: async () => {},
  };
}

/** listr2 on a terminal: a task per resource for small plans, a counter for large ones. */
async function listrProgress(plan: Plan): Promise<Progress> {
  const { Listr } = await import('listr2');
  const waiters = new Map<string, { left: number; resolve: () => void; reject: (e: Error) => void; promise: Promise<void> }>();
  const keyOf = (host: string, address: string) => `${host}|${address}`;
  for (const st of plan.steps) {
    const key = keyOf(st.host, st.address);
    const w = waiters.get(key);
    if (w) w.left++;
    else {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {});
      waiters.set(key, { left: 1, resolve, reject, promise });
    }
  }
  const large = plan.changes.length > 40;
  let finished = 0;
  let failure: Error | undefined;
  let allDone!: () => void;
  const everything = new Promise<void>((r) => (allDone = r));
  const tasks = large
    ? new Listr([
        {
          title: `${plan.steps.length} steps`,
          task: async (_ctx, task) => {
            const timer = setInterval(() => (task.title = `${finished}/${plan.steps.length} steps`), 100);
            await everything;
            clearInterval(timer);
            task.title = `${finished}/${plan.steps.length} steps`;
            if (failure) throw failure;
          },
        },
      ], { exitOnError: false, registerSignalListeners: false, rendererOptions: { collapseErrors: false } })
    : new Listr(
        plan.changes
          .filter((c) => waiters.has(keyOf(c.host, c.address)))
          .map((c) => ({
            title: `${c.action} ${c.address}${plan.implicitHost ? '' : ` (host ${c.host})`}`,
            task: () => waiters.get(keyOf(c.host, c.address))!.promise,
          })),
        // Signals are tsnet's (interruptions()): listr2's own handler would exit mid-run.
        { concurrent: true, exitOnError: false, registerSignalListeners: false, rendererOptions: { collapseErrors: false } },
      );
  const running = tasks.run().catch(() => {});
  return {
    onEvent: (e) => {
      if (e.type === 'step-done') {
        finished++;
        const w = waiters.get(keyOf(e.step.host, e.step.address));
        if (w && --w.left === 0) w.resolve();
      } else if (e.type === 'step-failed') {
        failure = new Error(`${e.step.description}: ${e.error}`);
        waiters.get(keyOf(e.step.host, e.step.address))?.reject(failure);
      }
    },
    done: async () => {
      const err = failure ?? new Error('not run: an earlier step failed');
      for (const w of waiters.values()) if (w.left > 0) w.reject(err);
      allDone();
      await running;
    },
  };
}
