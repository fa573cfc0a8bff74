// tsnet exec FILE SANDBOX [-- COMMAND ARGS...]: run a command inside a sandbox's network
// namespace, wherever the sandbox lives (this machine, a netns host, an ssh host); several
// sandboxes (or --all) at once with output prefixed by sandbox, or as JSON.
import { attachPids } from '../../state/attach.js';
import { closeRunners, loadChecked, runnersFor } from '../../engine/index.js';
import { checkTargets } from '../../exec/check.js';
import { linePrefixes } from '../../exec/prefix.js';
import { describeFailures, runAttached, runMany, type ExecResult } from '../../exec/run.js';
import { resolveTargets, type ExecTarget } from '../../exec/target.js';
import type { Topology } from '../../model/types.js';
import type { Runner } from '../../state/runner.js';
import { withEngineErrors } from '../engine-errors.js';
import { ExitError } from '../errors.js';
import { JSON_FORMAT_VERSION, useColor, writeJson } from '../output.js';
import { missingCapabilities } from '../privileges.js';

export interface ExecOptions {
  all?: boolean;
  json?: boolean;
  parallel?: string;
  tty?: boolean;
}

export const DEFAULT_PARALLEL = 16;

function parallelism(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PARALLEL;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new ExitError(`--parallel: "${text}" is not a whole number of 1 or more`);
  return n;
}

/** What the options and names ask for, checked before anything is read. */
function checkUsage(command: readonly string[] | undefined, names: readonly string[], opts: ExecOptions): void {
  if (command !== undefined) return;
  if (opts.all || names.length > 1) throw new ExitError('a command is needed with several sandboxes or --all: tsnet exec FILE --all -- COMMAND');
  if (opts.json) throw new ExitError('--json needs a command: tsnet exec --json FILE SANDBOX -- COMMAND');
}

/** `ip netns exec` needs CAP_SYS_ADMIN on this machine; ssh hosts check on their side. */
function checkPrivileges(topology: Topology, targets: readonly ExecTarget[]): void {
  const local = targets.some((t) => {
    const via = topology.hosts.get(t.host)!.via;
    return via.kind === 'netns' || (via.kind === 'local' && t.ns !== null);
  });
  const missing = local ? missingCapabilities() : [];
  if (missing.length) throw new ExitError(`exec needs root (${missing.join(' and ')}) to enter network namespaces; run it with sudo, or inside scripts/lab`);
}

export async function execCommand(file: string, names: readonly string[], command: readonly string[] | undefined, opts: ExecOptions): Promise<void> {
  checkUsage(command, names, opts);
  const parallel = parallelism(opts.parallel);
  const { topology } = await withEngineErrors(opts.json, () => loadChecked(file));
  const { targets, errors } = resolveTargets(topology, { all: Boolean(opts.all), names });
  if (errors.length) throw new ExitError(errors.join('\ntsnet: '));
  checkPrivileges(topology, targets);
  const used = new Set(targets.map((t) => t.host));
  if (targets.some((t) => topology.hosts.get(t.host)!.via.kind === 'ssh')) await import('../../state/ssh.js');
  const runners = new Map([...runnersFor(topology)].filter(([h]) => used.has(h)));
  try {
    // A pid sandbox's namespace gets its name for as long as the runners are open.
    const attached = await withEngineErrors(opts.json, () => attachPids(topology, runners));
    const problems = [...attached.errors.map((e) => e.message), ...(await withEngineErrors(opts.json, () => checkTargets(topology, targets, runners)))];
    if (problems.length) throw new ExitError(problems.join('\ntsnet: '));
    await withEngineErrors(opts.json, () => run(topology, targets, runners, command, { json: Boolean(opts.json), all: Boolean(opts.all), tty: Boolean(opts.tty), parallel }));
  } finally {
    await closeRunners(runners);
  }
}

async function run(
  topology: Topology,
  targets: ExecTarget[],
  runners: Map<string, Runner>,
  command: readonly string[] | undefined,
  opts: { json: boolean; all: boolean; tty: boolean; parallel: number },
): Promise<void> {
  const single = targets.length === 1 && !opts.all;
  if (single && !opts.json) {
    const res = await runAttached(targets[0]!, runners.get(targets[0]!.host)!, command ?? [], { terminal: command === undefined || opts.tty });
    if (res.error) throw new ExitError(`cannot run the command in sandbox "${targets[0]!.sandbox}": ${res.error}`, res.exitCode);
    if (res.exitCode !== 0) throw new ExitError('', res.exitCode, true);
    return;
  }
  const argv = command ?? [];
  if (opts.json) {
    const results = await runMany(targets, runners, argv, { parallel: opts.parallel, output: { mode: 'capture' }, stdin: single });
    writeJson(execJson(topology, argv, results));
    failIfAny(results);
    return;
  }
  const names = targets.map((t) => t.sandbox);
  const outPrefix = linePrefixes(names, useColor(process.stdout));
  const errPrefix = linePrefixes(names, useColor(process.stderr));
  const results = await runMany(targets, runners, argv, {
    parallel: opts.parallel,
    output: { mode: 'prefix', stdoutPrefix: (s) => outPrefix.get(s)!, stderrPrefix: (s) => errPrefix.get(s)! },
    stdin: false,
  });
  failIfAny(results);
}

/** Exit 0 only when every command exited 0; otherwise 1, naming the ones that did not. */
function failIfAny(results: readonly ExecResult[]): void {
  const failed = results.filter((r) => r.exitCode !== 0);
  if (failed.length) throw new ExitError(`${failed.length} of ${results.length} sandbox${results.length === 1 ? '' : 'es'} failed: ${describeFailures(results)}`);
}

/** README "JSON output": one document, one result per sandbox. */
export function execJson(topology: Pick<Topology, 'name' | 'file'>, command: readonly string[], results: readonly ExecResult[]) {
  return {
    format_version: JSON_FORMAT_VERSION,
    topology: topology.name,
    file: topology.file,
    command,
    ok: results.every((r) => r.exitCode === 0),
    results: results.map((r) => ({
      sandbox: r.sandbox,
      host: r.host,
      namespace: r.ns,
      exit_code: r.exitCode,
      signal: r.signal ?? null,
      stdout: r.stdout,
      stderr: r.error ? `${r.stderr}${r.stderr && !r.stderr.endsWith('\n') ? '\n' : ''}${r.error}\n` : r.stderr,
    })),
  };
}
