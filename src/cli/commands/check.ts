// tsnet check FILE: run the file's checks (and with --all-pairs every pair of endpoints on each
// network) inside the sandboxes, on their hosts, and report a table; exit 0 only when all pass.
// `tsnet apply --check` runs the same after a verified apply (runChecks, printChecks below).
import { closeRunners, loadChecked, planSession } from '../../engine/index.js';
import { notApplied, driftWarning } from '../../check/gate.js';
import { planProbes, sandboxesInvolved } from '../../check/probes.js';
import { allPassed, countResults, renderReport, reportJson, summaryLines, type ReportInput } from '../../check/render.js';
import { runProbes, type RunOptions } from '../../check/run.js';
import { parseDuration } from '../../executor/lock.js';
import type { Topology } from '../../model/types.js';
import { renderPlan } from '../../planner/render.js';
import type { Runner } from '../../state/runner.js';
import { withEngineErrors } from '../engine-errors.js';
import { EXIT, ExitError } from '../errors.js';
import { JSON_FORMAT_VERSION, painter, useColor, writeJson } from '../output.js';
import { hostDescriptions } from '../plan-json.js';
import { missingCapabilities } from '../privileges.js';

export interface CheckOptions {
  json?: boolean;
  quiet?: boolean;
  allPairs?: boolean;
  timeout?: string;
  deadline?: string;
  parallel?: string;
  maxPairs?: string;
  seed?: string;
}

/** The defaults, also what `apply --check` uses. */
export const CHECK_DEFAULTS = { timeout: '1s', deadline: '60s', parallel: '16', maxPairs: '1000', seed: '1' } as const;

export interface CheckSettings extends Omit<RunOptions, 'toolsFor'> {
  allPairs: boolean;
  maxPairs: number;
  seed: number;
}

function whole(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new ExitError(`${flag}: "${text}" is not a whole number of ${min} or more`);
  return n;
}

function positiveDuration(text: string, flag: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new ExitError(`${flag}: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new ExitError(`${flag} must be longer than 0s`);
  return ms;
}

export function checkSettings(opts: CheckOptions): CheckSettings {
  const timeoutMs = positiveDuration(opts.timeout ?? CHECK_DEFAULTS.timeout, '--timeout');
  const deadlineMs = positiveDuration(opts.deadline ?? CHECK_DEFAULTS.deadline, '--deadline');
  if (deadlineMs < timeoutMs) throw new ExitError(`--deadline (${opts.deadline}) is shorter than --timeout (${opts.timeout ?? CHECK_DEFAULTS.timeout}): not one probe would end before it`);
  return {
    timeoutMs,
    deadlineMs,
    parallel: whole(opts.parallel ?? CHECK_DEFAULTS.parallel, '--parallel', 1),
    allPairs: Boolean(opts.allPairs),
    maxPairs: whole(opts.maxPairs ?? CHECK_DEFAULTS.maxPairs, '--max-pairs', 1),
    seed: whole(opts.seed ?? CHECK_DEFAULTS.seed, '--seed', 0),
  };
}

/** Plans and runs the probes of an applied topology. */
export async function runChecks(topology: Topology, runners: ReadonlyMap<string, Runner>, settings: CheckSettings): Promise<ReportInput> {
  const plan = planProbes(topology, settings);
  const run = await runProbes(plan, runners, settings);
  return { run, pairs: plan.pairs, allPairs: settings.allPairs, implicitHost: topology.implicitHost };
}

/** The report on stdout (human, or -q: the summary lines only); true when everything passed. */
export function printChecks(input: ReportInput, opts: { quiet?: boolean }): boolean {
  const paint = painter(useColor());
  const counts = countResults(input.run, input.allPairs);
  if (opts.quiet) process.stdout.write(`${summaryLines(counts, paint).join('\n')}\n`);
  else process.stdout.write(renderReport(input, paint));
  return allPassed(counts);
}

/** Probing needs root on this machine (entering namespaces); ssh hosts check on their side. */
function checkPrivileges(topology: Topology): void {
  if (![...topology.hosts.values()].some((h) => h.via.kind !== 'ssh')) return;
  const missing = missingCapabilities();
  if (missing.length) throw new ExitError(`check needs root (${missing.join(' and ')}) to enter network namespaces; run it with sudo, or inside scripts/lab`);
}

export async function checkCommand(file: string, opts: CheckOptions): Promise<void> {
  const settings = checkSettings(opts);
  const loaded = await withEngineErrors(opts.json, () => loadChecked(file));
  checkPrivileges(loaded.topology);
  const s = await withEngineErrors(opts.json, () => planSession(file, 'apply', { loaded }));
  try {
    const { topology, plan } = s;
    if (plan.errors.length) {
      process.stderr.write(`${renderPlan(plan, { file, color: useColor(process.stderr), hostDescriptions: hostDescriptions(s.runners) })}\n`);
      throw new ExitError(`the plan of ${file} has errors: fix them (and apply) before checking`);
    }
    const probes = planProbes(topology, settings);
    const problems = notApplied(topology, s.live, sandboxesInvolved(topology, probes));
    if (problems.length) throw new ExitError(`${file} is not applied: ${problems.join('\ntsnet: ')}`);
    const drift = driftWarning(plan, file);
    if (drift) process.stderr.write(`tsnet: warning: ${drift}\n`);
    if (!probes.probes.length && !opts.json) {
      process.stdout.write(`No checks in ${file}${settings.allPairs ? ' and no network with two endpoints' : ''}: nothing to run (add "checks:", or give --all-pairs).\n`);
      return;
    }
    const input = await runChecks(topology, s.runners, settings);
    if (opts.json) {
      const doc = { format_version: JSON_FORMAT_VERSION, topology: topology.name, file, drift: plan.changes.map((c) => ({ host: c.host, address: c.address, action: c.action })), ...reportJson(input) };
      writeJson(doc);
      if (!doc.ok) throw new ExitError('', EXIT.error, true);
      return;
    }
    if (!printChecks(input, opts)) throw new ExitError('', EXIT.error, true);
  } finally {
    await closeRunners(s.runners);
  }
}
