// The guard every kernel test file calls first, and the few helpers those files share.
//
// A kernel test may only run inside the lab (scripts/lab): a private network and mount
// namespace where nothing it makes can reach this machine's real network. Inside means both:
// TSNET_LAB is "1" (scripts/lab exports it) and this process's network namespace is not PID 1's
// (the inode of /proc/self/ns/net differs from /proc/1/ns/net's; kthreadd's, PID 2, stands in
// where PID 1 cannot be read). Anything else, including not being able to compare, skips the
// whole file with the reason, and no command runs: every helper below also refuses to start a
// process outside the lab, whatever a test does.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, it } from 'vitest';

export { checkLab, type LabCheck } from '../../src/lab-check.js';
import { checkLab, type LabCheck } from '../../src/lab-check.js';

export const LAB: LabCheck = checkLab();

/**
 * describe() for a kernel test file. Outside the lab the body is never called (so neither its
 * hooks nor its tests run) and one skipped test carries the reason; with TSNET_REQUIRE_LAB=1
 * (.ci/run sets it) that test fails instead.
 */
export function describeInLab(name: string, body: () => void): void {
  if (LAB.inLab) {
    describe(name, body);
    return;
  }
  const reason = LAB.reason;
  if (process.env.TSNET_REQUIRE_LAB === '1') {
    // CI must run the kernel suite: a missing lab fails there instead of skipping.
    describe(name, () => {
      it('runs in the lab (TSNET_REQUIRE_LAB=1)', () => {
        throw new Error(`the kernel tests must run here, but: ${reason}`);
      });
    });
    return;
  }
  describe.skip(name, () => {
    it.skip(`skipped: ${reason}`, () => {});
  });
}

export function assertInLab(argv: readonly string[]): void {
  if (!LAB.inLab) throw new Error(`refusing to run "${argv.join(' ')}" outside the lab: ${LAB.reason}`);
}

export const ROOT = join(import.meta.dirname, '..', '..');
export const FIXTURES = join(ROOT, 'test', 'kernel', 'fixtures');
export const EXAMPLES = join(ROOT, 'examples');
const BIN = join(ROOT, 'bin', 'tsnet.js');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved, for assertion messages. */
  all: string;
}

/** Options of run() and start(); an env value of undefined removes the variable. */
export interface RunOpts {
  ns?: string;
  input?: string;
  env?: Record<string, string | undefined>;
}

/** Runs argv in the lab (`ns`: inside that named namespace); never throws on a non-zero exit. */
export async function run(argv: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  return start(argv, opts).done;
}

/** A process started in the lab and not waited for: tests stop, kill or race it. */
export interface Started {
  pid: number;
  /** Resolves when it exits (`signal`: what killed it, if anything). */
  done: Promise<Ran & { signal?: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts argv in the lab without waiting for it (run() waits). */
export function start(argv: readonly string[], opts: RunOpts = {}): Started {
  assertInLab(argv);
  const full = opts.ns ? ['ip', 'netns', 'exec', opts.ns, ...argv] : [...argv];
  const child = execa(full[0]!, full.slice(1), {
    reject: false,
    all: true,
    cwd: ROOT,
    input: opts.input ?? '',
    env: { LC_ALL: 'C', ...opts.env },
  });
  const done = child.then((res) => ({
    code: res.exitCode ?? 1,
    stdout: String(res.stdout ?? ''),
    stderr: String(res.stderr ?? ''),
    all: String(res.all ?? ''),
    ...(res.signal ? { signal: res.signal } : {}),
  }));
  return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
}

/** `tsnet ARGS` started and not waited for. */
export const startTsnet = (...args: string[]): Started => start(['node', BIN, ...args], { env: { NO_COLOR: '1' } });

/** True while the process exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pids of a process's children, their children, and so on, from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p && !out.includes(child)) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

/** Runs argv and throws with its output unless it exits 0; returns stdout. */
export async function must(argv: readonly string[], opts: { ns?: string; input?: string } = {}): Promise<string> {
  const res = await run(argv, opts);
  if (res.code !== 0) throw new Error(`${argv.join(' ')}${opts.ns ? ` (in ${opts.ns})` : ''} exited with ${res.code}:\n${res.all}`);
  return res.stdout;
}

/** The tsnet CLI as a user runs it (stdin is an empty pipe: never a terminal). */
export const tsnet = (...args: string[]): Promise<Ran> => run(['node', BIN, ...args], { env: { NO_COLOR: '1' } });

/** `tsnet ARGS` that must exit 0. */
export async function tsnetOk(...args: string[]): Promise<string> {
  const res = await tsnet(...args);
  if (res.code !== 0) throw new Error(`tsnet ${args.join(' ')} exited with ${res.code}:\n${res.all}`);
  return res.stdout;
}

/** True when one ping from the namespace (null: the lab's own stack) is answered within a second. */
export async function pings(ns: string | null, address: string): Promise<boolean> {
  const res = await run(['ping', '-n', '-c1', '-W1', address], ns ? { ns } : {});
  return res.code === 0;
}

/** Names in `ip netns list`, sorted. */
export async function netnsNames(): Promise<string[]> {
  const out = (await must(['ip', '-json', 'netns', 'list'])).trim();
  return out ? (JSON.parse(out) as { name: string }[]).map((n) => n.name).sort() : [];
}

/** Cleanup: deletes the namespaces and lab-stack links that exist; errors are ignored. */
export async function removeAll(opts: { netns?: readonly string[]; links?: readonly string[] }): Promise<void> {
  const existing = new Set(await netnsNames());
  for (const ns of opts.netns ?? []) if (existing.has(ns)) await run(['ip', 'netns', 'del', ns]);
  for (const l of opts.links ?? []) await run(['ip', 'link', 'del', l]);
}

/** Retries `check` until it stops throwing, at most `ms` (the kernel frees namespaces' links in the background). */
export async function eventually<T>(check: () => Promise<T> | T, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (let wait = 20; ; wait = Math.min(wait * 2, 200)) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The change lines of `tsnet plan` text: "+ sandbox.a", "~ endpoint.b.eth0", ... */
export function planChanges(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^ {0,4}(-\/\+|\+\/-|[+~-]) ([a-z]+\.\S+)/.exec(line);
    if (m) out.push(`${m[1]} ${m[2]}`);
  }
  return out;
}

/**
 * The net namespaces of this lab, as /proc/PID/ns/net names them (`net:[INODE]`): the lab's own
 * stack and every namespace under its /run/netns (sandboxes, and netns hosts: the lab's mount
 * namespace has its own /run/netns).
 */
function labNetNamespaces(): Set<string> {
  const out = new Set<string>([readlinkSync('/proc/self/ns/net')]);
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    /* no namespaces yet */
  }
  for (const n of names) {
    try {
      out.add(`net:[${statSync(`/run/netns/${n}`).ino}]`);
    } catch {
      /* deleted meanwhile */
    }
  }
  return out;
}

/**
 * Pids of this lab's processes whose command line `matches`: those in one of the lab's network
 * namespaces. /proc shows every process of the machine, other labs' too (npm test runs two at
 * once), so a search by command line alone would find another lab's listeners or sleeps.
 */
export function labProcesses(matches: (cmdline: string) => boolean): number[] {
  const mine = labNetNamespaces();
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!matches(readFileSync(`/proc/${e}/cmdline`, 'utf8'))) continue;
      if (mine.has(readlinkSync(`/proc/${e}/ns/net`))) pids.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}
