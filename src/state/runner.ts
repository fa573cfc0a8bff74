// Every kernel access goes through a Runner: it runs an argv (never a shell string) on a host,
// either in the host's own stack or inside one of the host's named namespaces.
import { appendFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { execa } from 'execa';
import type { Host } from '../model/types.js';
import type { FileAccess } from './files.js';
import { LOCAL_FILES } from './local-files.js';
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
  /**
   * The names files under /etc/netns of the runner's machine, read and written in-process
   * (runners of this machine: no process per file). Absent: through a script run with run() (ssh).
   */
  readonly files?: FileAccess;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Runs a person's command (`tsnet exec`) with its standard streams attached rather than
   * captured; resolves once it has started. An empty argv starts the shell of the host's user
   * (an interactive shell). Optional: runners that only carry tsnet's own commands (tests'
   * wrappers) leave it out.
   */
  attach?(argv: readonly string[], opts: AttachOptions): Promise<Attached>;
  /** Names of the namespaces under /run/netns. */
  listNetns(): Promise<string[]>;
  /** Releases connections (ssh control masters). */
  close(): Promise<void>;
}

/** How Runner.attach() connects a command to the person or program running tsnet. */
export interface AttachOptions {
  /** A named network namespace on the host; null or absent: the host's own stack. */
  ns?: string | null;
  /**
   * 'inherit': the command shares tsnet's stdin, stdout and stderr (one sandbox, a terminal);
   * 'pipe': its output goes to onStdout/onStderr (prefixed lines, JSON) and stdin is empty
   * unless `stdin` says otherwise.
   */
  stdio: 'inherit' | 'pipe';
  /** With 'pipe': tsnet's stdin still passes through (one sandbox with --json). */
  stdin?: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** The command wants a terminal (an interactive shell): over ssh, `ssh -t`. */
  terminal?: boolean;
}

export interface AttachResult {
  /** The command's exit code; 128+N when signal N ended it, as shells report it. */
  exitCode: number;
  /** The signal that ended it, when one did. */
  signal?: string;
  /** Why the command could not be started at all (exitCode is then 127). */
  error?: string;
}

export interface Attached {
  /** Sends a signal to the started process (tsnet relays SIGTERM and SIGHUP). */
  kill(signal: NodeJS.Signals): void;
  done: Promise<AttachResult>;
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
    // A session of its own: Ctrl-C at the terminal reaches tsnet, which lets a running batch
    // finish and then rolls back, rather than every ip process dying mid-batch.
    detached: true,
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

/**
 * The argv prefix that runs a person's command in a named namespace: `ip netns exec`, not
 * nsenter. Besides entering the network namespace it gives the command a mount namespace of
 * its own where /sys is remounted (so /sys/class/net lists the sandbox's interfaces) and every
 * file under /etc/netns/NS/ is bind-mounted over /etc (a hosts or resolv.conf written there for
 * the sandbox is what the command reads), as `ip netns exec` users expect.
 */
export const netnsExec = (ns: string): string[] => ['ip', 'netns', 'exec', ns];

/** 128+N for signal N, as a shell reports a command a signal ended. */
export const signalExitCode = (signal: string): number => 128 + ((osConstants.signals as Record<string, number | undefined>)[signal] ?? 0);

/** The shell of the person running tsnet: $SHELL, else sh. */
export const localShell = (): string[] => [process.env.SHELL || 'sh'];

/** Starts argv on this machine with its streams attached as `opts` says (Runner.attach). */
export function attachProcess(argv: readonly string[], opts: AttachOptions): Attached {
  trace(1, argv);
  const [file, ...args] = argv;
  const piped = opts.stdio === 'pipe';
  const child = execa(file!, args, {
    stdin: !piped || opts.stdin ? 'inherit' : 'ignore',
    stdout: piped ? 'pipe' : 'inherit',
    stderr: piped ? 'pipe' : 'inherit',
    buffer: false,
    reject: false,
  });
  if (opts.onStdout) child.stdout?.on('data', opts.onStdout);
  if (opts.onStderr) child.stderr?.on('data', opts.onStderr);
  const done = child.then((res): AttachResult => {
    if (res.signal) return { exitCode: signalExitCode(res.signal), signal: res.signal };
    if (res.exitCode !== undefined) return { exitCode: res.exitCode };
    return { exitCode: 127, error: res.shortMessage ?? String(res.message) };
  });
  return { kill: (signal) => child.kill(signal), done };
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
  readonly files = LOCAL_FILES;
  readonly describe = 'this machine';
  constructor(readonly host: string) {}
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return exec(opts.ns ? [...enterNetns(opts.ns), ...argv] : argv, opts.input);
  }
  async attach(argv: readonly string[], opts: AttachOptions): Promise<Attached> {
    const command = argv.length ? argv : localShell();
    return attachProcess(opts.ns ? [...netnsExec(opts.ns), ...command] : command, opts);
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
  readonly files = LOCAL_FILES;
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
  /** The host's own stack is its namespace; a sandbox's namespace is one of this machine's. */
  async attach(argv: readonly string[], opts: AttachOptions): Promise<Attached> {
    return attachProcess([...netnsExec(opts.ns ?? this.netns), ...(argv.length ? argv : localShell())], opts);
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
