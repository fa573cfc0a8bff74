// No child process may hang tsnet for ever: every `ip`, `bridge`, `nft`, `sysctl`, xargs
// fan-out and ssh command gets a time limit, after which it is killed with its whole process
// tree (an xargs worker's `ip` included, or its stdout would stay open) and reported as a
// command whose outcome is unknown: a change is then undone like any failed one, a read fails
// naming the command and the limit.
//
// The limit is generous, because a big batch legitimately takes a while: TSNET_COMMAND_TIMEOUT
// (default 60s), plus 10 ms per line the command is fed (a 10,000-line host batch may run
// 160 s). Measured on this project's 2-core machine, 1000 sandboxes take about 4 s in all.
import { readdirSync, readFileSync } from 'node:fs';
import { parseDuration } from '../executor/lock.js';

/**
 * The exit code of a command whose outcome cannot be told: it may or may not have run (a
 * timed-out command, or one of an xargs worker's namespaces whose output does not add up).
 * The executor undoes all of its steps.
 */
export const UNKNOWN_PROGRESS = -2;

export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
/**
 * The most TSNET_COMMAND_TIMEOUT may be: well under the day after which a batch directory
 * counts as a dead run's (src/state/fanout.ts), so that no live run's is ever removed.
 */
export const MAX_COMMAND_TIMEOUT_MS = 6 * 3_600_000;
export const TIMEOUT_PER_LINE_MS = 10;

/** TSNET_COMMAND_TIMEOUT as milliseconds (the base limit); an error naming it when it is not a duration. */
export function baseTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.TSNET_COMMAND_TIMEOUT;
  if (text === undefined || text.trim() === '') return DEFAULT_COMMAND_TIMEOUT_MS;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new Error(`TSNET_COMMAND_TIMEOUT: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new Error('TSNET_COMMAND_TIMEOUT must be longer than 0s');
  if (ms > MAX_COMMAND_TIMEOUT_MS) throw new Error('TSNET_COMMAND_TIMEOUT must be at most 6h');
  return ms;
}

/** How long a command fed `input` (batch lines) may run. */
export function commandTimeoutMs(input: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const lines = input ? input.split('\n').filter((l) => l !== '').length : 0;
  return baseTimeoutMs(env) + lines * TIMEOUT_PER_LINE_MS;
}

/** An argv for messages: `ip -json -batch - in namespace NS` rather than the nsenter prefix. */
export function commandText(argv: readonly string[]): string {
  const net = argv[0] === 'nsenter' ? /^--net=.*\/([^/]+)$/.exec(argv[1] ?? '') : null;
  const dash = argv.indexOf('--');
  return net && dash > 0 ? `${argv.slice(dash + 1).join(' ')} in namespace ${net[1]}` : argv.join(' ');
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))}s`;

/** The stderr of a killed command: what it was and the limit it ran into. */
export const timedOutMessage = (what: string, ms: number): string =>
  `${what} did not finish within ${seconds(ms)} and was killed (TSNET_COMMAND_TIMEOUT sets the limit; it was still running, so what it did is not known)`;

/** The pids of a process's descendants, from /proc (children before their own children's listing). */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid);
      if (list) list.push(Number(e));
      else children.set(ppid, [Number(e)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      if (out.includes(c)) continue;
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
};

/** Kills a process and everything it started: stopped first, so that it starts nothing more. */
export function killTree(pid: number): void {
  signal(pid, 'SIGSTOP');
  for (const d of descendantsOf(pid)) signal(d, 'SIGSTOP');
  for (const d of descendantsOf(pid).reverse()) signal(d, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

/**
 * Kills the process tree of `pid` if `done` has not settled within `ms`. Resolves with what
 * `done` gave and whether the limit was hit.
 */
export async function withTimeout<T>(pid: number | undefined, done: Promise<T>, ms: number): Promise<{ result: T; timedOut: boolean }> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid !== undefined) killTree(pid);
  }, ms);
  try {
    const result = await done;
    return { result, timedOut };
  } finally {
    clearTimeout(timer);
  }
}
