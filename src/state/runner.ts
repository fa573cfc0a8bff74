// Every kernel access goes through a Runner: it runs an argv (never a shell string) on a host,
// either in the host's own stack or inside one of the host's named namespaces.
import { appendFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { execa } from 'execa';
import type { Host } from '../model/types.js';
import { commandText, commandTimeoutMs, timedOutMessage, UNKNOWN_PROGRESS, withTimeout } from './timeout.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** A named network namespace on the host; null or absent: the host's own stack. */
  ns?: string | null;
  /** Text fed to the command's stdin (ip -batch -). */
  input?: string;
}

export interface Runner {
  /** The topology's name for the host. */
  readonly host: string;
  /**
   * Runners with the same machine share one kernel and one /run/netns (local and netns
   * runners on this machine): namespaces are listed and read once per machine.
   */
  readonly machine: string;
  /** A short description for messages, e.g. "netns lab-h1". */
  readonly describe: string;
  /**
   * True when batches for many namespaces of this machine may be started by xargs workers
   * (src/state/fanout.ts) instead of one by one through run(). Runners that wrap or
   * rewrite commands (tests' failure injection, ssh) leave it out.
   */
  readonly fanOut?: boolean;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Names of the namespaces under /run/netns. */
  listNetns(): Promise<string[]>;
  /** Releases connections (ssh control masters). */
  close(): Promise<void>;
}

export const NETNS_DIR = '/run/netns';

/** The argv prefix that enters a named namespace without copying the mount table (unlike ip -n). */
export const enterNetns = (ns: string): string[] => ['nsenter', `--net=${NETNS_DIR}/${ns}`, '--'];

/**
 * TSNET_TRACE=<file>: one line per process started, "<count> <argv>" (the benchmark counts
 * the processes an apply starts with it).
 */
export function trace(count: number, argv: readonly string[]): void {
  const file = process.env.TSNET_TRACE;
  if (file) appendFileSync(file, `${count} ${argv.join(' ')}\n`);
}

async function exec(argv: readonly string[], input: string | undefined): Promise<RunResult> {
  trace(1, argv);
  const [file, ...args] = argv;
  const limit = commandTimeoutMs(input);
  const child = execa(file!, args, {
    input: input ?? '',
    reject: false,
    stripFinalNewline: false,
    env: { LC_ALL: 'C' },
    extendEnv: true,
    maxBuffer: 512 * 1024 * 1024,
  });
  const { result, timedOut } = await withTimeout(child.pid, child, limit);
  if (timedOut) {
    return { stdout: String(result.stdout ?? ''), stderr: timedOutMessage(commandText(argv), limit), exitCode: UNKNOWN_PROGRESS };
  }
  if (result.failed && result.exitCode === undefined) {
    // The program could not be started at all (ENOENT, EACCES).
    return { stdout: '', stderr: result.shortMessage ?? String(result.message), exitCode: 127 };
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? 1 };
}

async function listLocalNetns(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** This machine's own stack. */
export class LocalRunner implements Runner {
  readonly machine = 'local';
  readonly fanOut = true;
  readonly describe = 'this machine';
  constructor(readonly host: string) {}
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return exec(opts.ns ? [...enterNetns(opts.ns), ...argv] : argv, opts.input);
  }
  listNetns(): Promise<string[]> {
    return listLocalNetns();
  }
  async close(): Promise<void> {}
}

/**
 * A namespace on this machine standing in for a whole host: the host's own stack is that
 * namespace; its sandboxes' namespaces are ordinary named namespaces of this machine.
 */
export class NetnsRunner implements Runner {
  readonly machine = 'local';
  readonly fanOut = true;
  readonly describe: string;
  constructor(
    readonly host: string,
    readonly netns: string,
  ) {
    this.describe = `netns ${netns}`;
  }
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return exec([...enterNetns(opts.ns ?? this.netns), ...argv], opts.input);
  }
  listNetns(): Promise<string[]> {
    return listLocalNetns();
  }
  async close(): Promise<void> {}
}

export type RunnerFactory = (host: Host) => Runner;

let sshFactory: RunnerFactory | undefined;

/** The ssh runner registers itself here (src/state/ssh.ts), so local use never loads it. */
export function registerSshRunner(factory: RunnerFactory): void {
  sshFactory = factory;
}

export function runnerFor(host: Host): Runner {
  switch (host.via.kind) {
    case 'local':
      return new LocalRunner(host.name);
    case 'netns':
      return new NetnsRunner(host.name, host.via.netns);
    case 'ssh':
      if (!sshFactory) throw new Error('the ssh runner is not loaded');
      return sshFactory(host);
  }
}
