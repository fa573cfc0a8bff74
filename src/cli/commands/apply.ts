// tsnet apply FILE: make the kernel match the file, or carry out a plan saved with
// `tsnet plan FILE --out plan.json` exactly, refusing it when it is stale.
import { closeRunners, loadChecked, planSession } from '../../engine/index.js';
import { Lock, LockError, parseDuration } from '../../executor/lock.js';
import type { Host, Topology } from '../../model/types.js';
import type { Runner } from '../../state/runner.js';
import { writeApplied } from '../applied.js';
import { refuseWhilePending, rollBackNow, startConfirmTimer } from '../confirm.js';
import { withEngineErrors } from '../engine-errors.js';
import { ExitError } from '../errors.js';
import { missingCapabilities } from '../privileges.js';
import { JSON_FORMAT_VERSION } from '../output.js';
import { runPlan } from '../run-plan.js';
import { checkFile, checkState, checkSteps, readSavedPlan, toPlan } from '../saved-plan.js';

export interface ApplyOptions {
  autoApprove?: boolean;
  json?: boolean;
  quiet?: boolean;
  lockTimeout?: string;
  confirmWithin?: string;
  /** false with --no-refresh. */
  refresh?: boolean;
  /** Run the file's checks after a verified apply. */
  check?: boolean;
  /** Take unmarked objects matching what the plan makes as tsnet's (a damaged journal's way out). */
  adopt?: boolean;
}

export function duration(text: string | undefined, flag: string): number {
  try {
    return parseDuration(text ?? '0');
  } catch (err) {
    throw new ExitError(`${flag}: ${(err as Error).message}`);
  }
}

/** Takes the topology's lock for the whole run, naming the holder when it cannot; returns the loaded file too. */
export async function lockTopology(
  file: string,
  command: string,
  json: boolean | undefined,
  timeout: string | undefined,
): Promise<{ lock: Lock; loaded: Awaited<ReturnType<typeof loadChecked>> }> {
  const loaded = await withEngineErrors(json, () => loadChecked(file));
  const { topology } = loaded;
  return { lock: await lockName(topology.name, [...topology.hosts.values()], command, timeout), loaded };
}

/** Takes the lock of the topology NAME whose hosts are given (lockTopology, and destroy --name). */
export async function lockName(name: string, hosts: readonly Host[], command: string, timeout: string | undefined): Promise<Lock> {
  const verb = command.split(' ')[1] ?? 'apply';
  if (hosts.some((h) => h.via.kind !== 'ssh')) {
    const missing = missingCapabilities();
    if (missing.length)
      throw new ExitError(`${verb} needs root (${missing.join(' and ')}) to change network namespaces; run it with sudo, or inside scripts/lab`);
  }
  refuseWhilePending(name);
  try {
    return await Lock.acquire(name, command, duration(timeout, '--lock-timeout'));
  } catch (err) {
    if (err instanceof LockError) throw new ExitError(err.message);
    throw new ExitError(`cannot take the lock of topology "${name}": ${(err as Error).message}`);
  }
}

/** The record of a successful apply; failing to write it does not fail the apply. */
function recordApply(name: string, file: string, hosts: Host[]): void {
  try {
    writeApplied(name, file, hosts);
  } catch (err) {
    process.stderr.write(`tsnet: warning: the apply is not recorded (tsnet list will not show its time): ${(err as Error).message}\n`);
  }
}

export async function applyCommand(file: string, opts: ApplyOptions): Promise<void> {
  const saved = readSavedPlan(file);
  const topologyFile = saved ? saved.file : file;
  if (saved) checkFile(saved, file);
  const confirmMs = opts.confirmWithin !== undefined ? duration(opts.confirmWithin, '--confirm-within') : undefined;
  if (confirmMs === 0) throw new ExitError('--confirm-within must be longer than 0s');
  const { lock, loaded } = await lockTopology(topologyFile, `tsnet apply ${file}`, opts.json, opts.lockTimeout);
  try {
    // A saved plan is always checked against a full read: the cache would hide hand-made changes.
    if (saved && opts.adopt) throw new ExitError('--adopt cannot be used with a saved plan: plan again with the topology file');
    const s = await withEngineErrors(opts.json, () =>
      planSession(topologyFile, 'apply', { loaded, refresh: saved !== undefined || opts.refresh !== false, ...(opts.adopt ? { adopt: true } : {}) }),
    );
    try {
      if (saved) {
        checkState(saved, file, s);
        checkSteps(saved, file, s.plan);
        s.plan = toPlan(saved);
      }
      const outcome = await runPlan(s, topologyFile, 'apply', { ...opts, saved: Boolean(saved) });
      // Reached only when the apply succeeded (runPlan throws otherwise): tsnet list shows it,
      // destroy --name finds the hosts in it.
      recordApply(s.topology.name, topologyFile, [...s.topology.hosts.values()]);
      // The timer starts before the checks: should they cut off tsnet itself, it still rolls back.
      const deadline =
        confirmMs !== undefined && outcome?.result.ok
          ? startConfirmTimer(s.topology.name, topologyFile, [...s.topology.hosts.values()], outcome.result.completed, confirmMs)
          : undefined;
      if (opts.check) await checkAfterApply(s.topology, s.runners, { json: Boolean(opts.json), quiet: Boolean(opts.quiet), pending: deadline !== undefined, changed: outcome !== undefined });
      if (deadline) {
        const msg = `This change rolls back at ${deadline} unless you run: tsnet confirm ${s.topology.name}`;
        if (opts.json) process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, type: 'confirm_pending', topology: s.topology.name, deadline })}\n`);
        else process.stdout.write(`${msg}\n`);
      }
    } finally {
      await closeRunners(s.runners);
    }
  } finally {
    lock.release();
  }
}

/**
 * `apply --check`: the file's checks, after the apply was verified. When one fails: exit 1 with
 * the table; with a change pending confirmation, that change is rolled back at once (the
 * timer's rollback, now) and the output says so.
 */
async function checkAfterApply(
  topology: Topology,
  runners: ReadonlyMap<string, Runner>,
  opts: { json: boolean; quiet: boolean; pending: boolean; changed: boolean },
): Promise<void> {
  const { checkSettings, printChecks, runChecks } = await import('./check.js');
  const { reportJson } = await import('../../check/render.js');
  const input = await runChecks(topology, runners, checkSettings({}));
  const line = (o: object) => process.stdout.write(`${JSON.stringify({ format_version: JSON_FORMAT_VERSION, ...o })}\n`);
  let passed: boolean;
  if (opts.json) {
    const doc = reportJson(input);
    line({ type: 'checks', ...doc });
    passed = doc.ok;
  } else passed = printChecks(input, { quiet: opts.quiet });
  if (passed) return;
  if (!opts.pending) {
    if (!opts.json)
      process.stderr.write(
        opts.changed
          ? 'tsnet: the checks failed after the apply; the change stays applied (with --confirm-within, a failing check rolls it back at once)\n'
          : 'tsnet: the checks failed; the apply changed nothing, so there is nothing to roll back\n',
      );
    throw new ExitError('', 1, true);
  }
  const errors = await rollBackNow(topology.name, 'checks failed after the apply');
  if (opts.json) line({ type: 'confirm_rolled_back', topology: topology.name, reason: 'checks failed', errors: errors ?? [] });
  else if (errors === undefined) process.stderr.write(`tsnet: the checks failed, but the change was no longer pending (confirmed meanwhile): it stays\n`);
  else if (errors.length) process.stderr.write(`tsnet: the checks failed; rolling the change back at once met errors:\n${errors.map((e) => `  ${e}`).join('\n')}\nRun "tsnet plan ${topology.file}" to see what to repair.\n`);
  else process.stderr.write(`tsnet: the checks failed: the change was rolled back at once (--confirm-within), without waiting for the deadline\n`);
  throw new ExitError('', 1, true);
}
