// Running one `ip -batch` in each of many namespaces of this machine, fast.
//
// Starting a process from Node costs 2 to 3 ms (fork of a large process, then execa's
// plumbing); starting it from a small process costs well under 1 ms. So for many namespaces,
// tsnet starts a few `xargs` processes (one per core) and lets each start, one after the other,
// `nsenter --net=/run/netns/NS -- ip ... -batch FILE` for its share of the namespaces. Every
// argument goes to xargs NUL-separated on stdin and is passed on as an argv entry: no shell is
// involved. Each xargs runs its commands in order, so its stdout is the concatenation of the
// outputs in input order; `ip` names the file and line of a failed command on stderr
// ("Command failed FILE:N"), which tells whose error it is.
//
// Anything that does not add up (an unexpected number of output lines, an error that cannot be
// attributed) is never a guess: reads fall back to running the affected namespaces one by one;
// changes (which must not run twice) come back as UNKNOWN_PROGRESS, for the executor to undo.
import { accessSync, constants, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { NETNS_DIR, trace, type RunResult, type Runner } from './runner.js';
import { commandTimeoutMs, timedOutMessage, UNKNOWN_PROGRESS, withTimeout } from './timeout.js';

export interface NsJob {
  ns: string;
  /** The batch lines to run (joined with newlines). */
  input: string;
  /**
   * How many lines the job prints on stdout when it succeeds (one per `show` command run with
   * -json), so that a shared stdout can be cut back into the jobs' outputs.
   */
  outputLines: number;
}

/**
 * The exit code of a job whose outcome could not be told apart from its neighbours' (xargs
 * stops at a child that exits 255, and output no longer adds up), or that ran out of time: it
 * may or may not have run.
 */
export { UNKNOWN_PROGRESS };

/** Below this many jobs, the processes are started from Node directly. */
export const FANOUT_MIN = 4;

let chosenDir: string | undefined;

/** A batch directory untouched for this long belongs to a run that is gone (see batchDir). */
export const BATCH_DIR_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Where batch directories go: TSNET_TMPDIR, else /dev/shm (memory: writing a file per
 * namespace costs little there), else the system's temporary directory.
 *
 * Each fan-out makes a directory of its own there and removes it when it ends (finally), so
 * normally nothing is left. A run killed meanwhile leaves its directory; another run removes it
 * only once it is provably dead: untouched for a day (BATCH_DIR_MAX_AGE_MS), while a live
 * fan-out lasts at most as long as its xargs may run (TSNET_COMMAND_TIMEOUT, src/state/timeout.ts)
 * and writes its files when it starts. Liveness is never judged by a pid: /dev/shm is shared
 * between PID namespaces and /proc is not, so a run in a container (or `unshare --pid`) looks
 * dead from outside and lost its batch files mid-apply.
 */
function batchDir(): string {
  if (chosenDir) return chosenDir;
  let dir = process.env.TSNET_TMPDIR ?? tmpdir();
  if (!process.env.TSNET_TMPDIR) {
    try {
      accessSync('/dev/shm', constants.W_OK);
      dir = '/dev/shm';
    } catch {
      /* no /dev/shm: the temporary directory */
    }
  }
  removeDeadBatchDirs(dir);
  chosenDir = dir;
  return dir;
}

/** Removes the batch directories in `dir` untouched for `maxAgeMs`; a courtesy, so errors are ignored. */
export function removeDeadBatchDirs(dir: string, maxAgeMs = BATCH_DIR_MAX_AGE_MS, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith('tsnet-batch-')) continue;
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      if (st.isDirectory() && now - st.mtimeMs > maxAgeMs) rmSync(path, { recursive: true, force: true });
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
}

/** Runs `ip <flags> -batch -` in each job's namespace; results in job order. */
export async function runInNamespaces(
  runner: Runner,
  flags: readonly string[],
  jobs: readonly NsJob[],
  parallel: number,
  /** false for jobs that change the kernel: never run twice (see UNKNOWN_PROGRESS). */
  rerunnable = true,
): Promise<RunResult[]> {
  if (!runner.fanOut || jobs.length < FANOUT_MIN || process.env.TSNET_NO_FANOUT) {
    return oneByOne(runner, flags, jobs, parallel);
  }
  const dir = mkdtempSync(join(batchDir(), 'tsnet-batch-'));
  try {
    // Identical inputs (reads) share one file.
    const files = new Map<string, string>();
    const fileOf = jobs.map((j) => {
      let f = files.get(j.input);
      if (!f) {
        f = join(dir, `${files.size}.batch`);
        writeFileSync(f, j.input);
        files.set(j.input, f);
      }
      return f;
    });
    const groups = Array.from({ length: Math.min(parallel, jobs.length) }, () => [] as number[]);
    // Contiguous shares keep each xargs's work in input order.
    const per = Math.ceil(jobs.length / groups.length);
    jobs.forEach((_, i) => groups[Math.floor(i / per)]!.push(i));
    const results = new Array<RunResult>(jobs.length);
    await Promise.all(
      groups.filter((g) => g.length).map(async (group) => {
        const { results: out, stderr, timedOut } = await xargsGroup(group.map((i) => ({ job: jobs[i]!, file: fileOf[i]! })), flags);
        if (out) group.forEach((i, k) => (results[i] = out[k]!));
        else if (timedOut) {
          // Never again one by one: each would wait as long.
          group.forEach((i) => (results[i] = { stdout: '', stderr: timedOut, exitCode: UNKNOWN_PROGRESS }));
        } else if (!rerunnable) {
          const said = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('xargs:')).join('; ');
          const why = `${said ? `${said} (` : ''}one of ${group.length} namespaces' batches run by one xargs failed, and which ones ran could not be told${said ? ')' : ''}`;
          group.forEach((i) => (results[i] = { stdout: '', stderr: why, exitCode: UNKNOWN_PROGRESS }));
        } else {
          const again = await oneByOne(runner, flags, group.map((i) => jobs[i]!), 1);
          group.forEach((i, k) => (results[i] = again[k]!));
        }
      }),
    );
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One xargs for a share of the jobs; no results when its output cannot be attributed for sure,
 * and `timedOut` (the message) when it ran out of time and was killed.
 */
async function xargsGroup(items: { job: NsJob; file: string }[], flags: readonly string[]): Promise<{ results?: RunResult[]; stderr: string; timedOut?: string }> {
  const perJob = 5 + flags.length; // --net=NS -- ip <flags> -batch FILE
  const tokens: string[] = [];
  for (const { job, file } of items) tokens.push(`--net=${NETNS_DIR}/${job.ns}`, '--', 'ip', ...flags, '-batch', file);
  trace(items.length, ['xargs', 'nsenter', '...', 'ip', ...flags, '-batch', `(${items.length} namespaces)`]);
  // The limit of the whole share: the base once, and the lines of every job.
  const limit = commandTimeoutMs(items.map((it) => it.job.input).join('\n'));
  const child = execa('xargs', ['-0', '-n', String(perJob), 'nsenter'], {
    input: `${tokens.join('\0')}\0`,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 1024 * 1024 * 1024,
    env: { LC_ALL: 'C' },
    detached: true, // out of the terminal's reach, as in runner.ts: Ctrl-C is tsnet's to handle
  });
  const { result: res, timedOut } = await withTimeout(child.pid, child, limit);
  if (timedOut) {
    const what = `ip ${flags.join(' ')} -batch in ${items.length} namespace${items.length === 1 ? '' : 's'} (${items[0]!.job.ns}${items.length > 1 ? ', ...' : ''}), started by one xargs,`;
    return { stderr: '', timedOut: timedOutMessage(what, limit) };
  }
  const stdout = String(res.stdout ?? '');
  const stderr = String(res.stderr ?? '');
  // Who failed: "Command failed FILE:N" names the file, but reads share one file, so the
  // namespace comes from the order of failures against the order of jobs with that file.
  const failed = new Map<number, string>(); // job index -> its stderr
  let pending: string[] = [];
  let cursor = 0;
  for (const line of stderr.split('\n')) {
    if (!line.trim()) continue;
    const cmd = /^Command failed (.+):(\d+)$/.exec(line.trim());
    const nsErr = /^nsenter: .*?\/run\/netns\/([^:\s]+)/.exec(line.trim());
    if (cmd) {
      // The next job at or after the cursor that uses this file and has not failed yet.
      let k = cursor;
      while (k < items.length && (items[k]!.file !== cmd[1] || failed.has(k))) k++;
      if (k >= items.length) return { stderr };
      failed.set(k, [...pending, line].join('\n'));
      pending = [];
      cursor = k + 1;
    } else if (nsErr) {
      const k = items.findIndex((it, i) => i >= cursor && it.job.ns === nsErr[1] && !failed.has(i));
      if (k < 0) return { stderr };
      failed.set(k, [...pending, line].join('\n'));
      pending = [];
      cursor = k + 1;
    } else {
      pending.push(line);
    }
  }
  if (pending.length) return { stderr }; // something wrote to stderr that we cannot place
  // A failed job stops before its reads (they come last): it printed nothing.
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const expected = items.reduce((s, it, k) => s + (failed.has(k) ? 0 : it.job.outputLines), 0);
  if (lines.length !== expected) return { stderr };
  const results: RunResult[] = [];
  let at = 0;
  items.forEach((it, k) => {
    if (failed.has(k)) {
      results.push({ stdout: '', stderr: failed.get(k)!.replace(it.file, '-'), exitCode: 1 });
      return;
    }
    const mine = lines.slice(at, at + it.job.outputLines);
    at += it.job.outputLines;
    results.push({ stdout: mine.length ? `${mine.join('\n')}\n` : '', stderr: '', exitCode: 0 });
  });
  return { results, stderr };
}

async function oneByOne(runner: Runner, flags: readonly string[], jobs: readonly NsJob[], parallel: number): Promise<RunResult[]> {
  const results = new Array<RunResult>(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        const j = jobs[i]!;
        results[i] = await runner.run(['ip', ...flags, '-batch', '-'], { ns: j.ns, input: j.input });
      }
    }),
  );
  return results;
}
