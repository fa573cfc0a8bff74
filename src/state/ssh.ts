// The ssh runner: the same argv run on a remote machine with OpenSSH. BatchMode (never a
// prompt), one connection reused for the whole run (ControlMaster), the host key checked
// against the user's known_hosts as ssh always does. TSNET_SSH_CONFIG names an ssh_config
// file to use instead of ~/.ssh/config (ssh -F).
//
// ssh hands the remote side one command line, which the remote shell splits again: every
// argument is single-quoted here, and every argument has already passed the schema (names) or
// is one of tsnet's own tokens, so nothing the user wrote is ever interpreted by a shell.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { onExit } from 'signal-exit';
import type { Host } from '../model/types.js';
import {
  attachProcess,
  enterNetns,
  netnsExec,
  registerSshRunner,
  trace,
  type AttachOptions,
  type Attached,
  type RunOptions,
  type RunResult,
  type Runner,
} from './runner.js';
import { commandText, commandTimeoutMs, timedOutMessage, UNKNOWN_PROGRESS, withTimeout } from './timeout.js';

/** How long making the connection may take (ConnectTimeout covers the TCP connection only). */
const CONNECT_TIMEOUT_MS = 30_000;
/** How long a control command (`ssh -O check`, `-O exit`) to the local master may take. */
const CONTROL_TIMEOUT_MS = 10_000;
/** The local ssh is killed this long after the remote command's own limit. */
const REMOTE_TIMEOUT_MARGIN_MS = 10_000;
/** coreutils `timeout`: the command ran out of time (124), or had to be killed after it (137). */
const TIMEOUT_EXIT = 124;
const TIMEOUT_KILL_EXIT = 137;

/** POSIX single quoting: 'it'\''s'. */
export const shellQuote = (arg: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/**
 * The remote shell of the user ssh logs in as: sshd sets SHELL to it. These words are tsnet's
 * own, never the user's: a person's arguments are only ever quoted one by one.
 */
export const REMOTE_SHELL = ['sh', '-c', 'exec "${SHELL:-sh}"'];

/**
 * The command line ssh hands the remote side for `tsnet exec`: every argument quoted on its
 * own (shellQuote), so the remote shell splits it back into exactly the argv given. No
 * `env LC_ALL=C` here: a person's command keeps their locale.
 */
export function attachCommandLine(argv: readonly string[], ns: string | null | undefined): string {
  const command = argv.length ? argv : REMOTE_SHELL;
  return [...(ns ? netnsExec(ns) : []), ...command].map(shellQuote).join(' ');
}

export class SshError extends Error {
  override name = 'SshError';
}

/**
 * Runners whose control directory is still there. A caller that fails before close() (a read
 * error, an exit) would leave the directory, and a control master for ControlPersist seconds:
 * they are ended when the process exits, also when a signal ends it (SIGINT, SIGTERM, SIGHUP),
 * where Node itself runs no 'exit' handler. signal-exit (which execa uses too) does that: it
 * runs the callback, then ends the process by the same signal, but only when no one else
 * listens for the signal; one who does (an apply that rolls back first) exits in its own time,
 * and the callback runs then. Only SIGKILL leaves a master behind, which ends by itself after
 * ControlPersist seconds without a command.
 */
const unclosed = new Set<SshRunner>();
let hooked = false;
/** Set once the masters were closed at exit: no new connection is made after that. */
let ended = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  onExit(() => {
    ended = true;
    for (const r of unclosed) r.closeAtExit();
  });
}

export class SshRunner implements Runner {
  readonly machine: string;
  readonly describe: string;
  private controlDir: string | undefined;
  /** The connection every command goes through, made once before the first (see run()). */
  private master: Promise<void> | undefined;

  constructor(
    readonly host: string,
    readonly destination: string,
  ) {
    this.machine = `ssh:${destination}`;
    this.describe = `ssh ${destination}`;
  }

  private baseArgs(): string[] {
    if (!this.controlDir) {
      if (ended) throw new SshError(`not connecting to host "${this.host}" (ssh ${this.destination}): tsnet is ending`);
      this.controlDir = mkdtempSync(join(tmpdir(), 'tsnet-ssh-'));
      unclosed.add(this);
      hookExit();
    }
    return [
      ...(process.env.TSNET_SSH_CONFIG ? ['-F', process.env.TSNET_SSH_CONFIG] : []),
      '-o', 'BatchMode=yes',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(this.controlDir, '%C')}`,
      '-o', 'ControlPersist=120',
      '-o', 'ConnectTimeout=10',
      // A connection that stops answering is given up after 3 unanswered keep-alives (45 s).
      '-o', 'ServerAliveInterval=15',
      '-o', 'ServerAliveCountMax=3',
    ];
  }

  /**
   * Makes the connection the run's commands share. Without it, commands started at the same
   * moment (reads run in parallel) would each open a connection before the first became the
   * master.
   */
  private connect(): Promise<void> {
    this.master ??= (async () => {
      const limit = CONNECT_TIMEOUT_MS;
      const { res, timedOut } = await this.ssh([...this.baseArgs(), '--', this.destination, 'true'], limit);
      if (timedOut || res.exitCode !== 0) {
        this.master = undefined; // a later call may try again
        const why = timedOut
          ? timedOutMessage(`ssh ${this.destination} true`, limit)
          : (String(res.stderr ?? res.shortMessage ?? '').trim().split('\n').filter(Boolean).pop() ?? `ssh exited with ${res.exitCode}`);
        throw new SshError(`cannot reach host "${this.host}" (ssh ${this.destination}): ${why}`);
      }
    })();
    return this.master;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    await this.connect();
    const command = opts.ns ? [...enterNetns(opts.ns), ...argv] : argv;
    const limit = commandTimeoutMs(opts.input);
    // `timeout` ends the remote command at the limit (killing the local ssh alone would leave
    // it running there); the local limit, a little later, covers a connection that hangs.
    // env LC_ALL=C: the error texts tsnet reads are the C locale's (ssh may forward LANG).
    const remote = ['timeout', '-k', '5', `${Math.ceil(limit / 1000)}`, 'env', 'LC_ALL=C', ...command].map(shellQuote).join(' ');
    trace(1, ['ssh', this.destination, remote]);
    const { res, timedOut } = await this.ssh([...this.baseArgs(), '--', this.destination, remote], limit + REMOTE_TIMEOUT_MARGIN_MS, opts.input ?? '');
    if (timedOut || res.exitCode === TIMEOUT_EXIT || res.exitCode === TIMEOUT_KILL_EXIT) {
      // The remote command may have run, or part of it: as with a local one, nobody knows.
      return { stdout: String(res.stdout ?? ''), stderr: timedOutMessage(`${commandText(command)} on host "${this.host}" (ssh ${this.destination})`, limit), exitCode: UNKNOWN_PROGRESS };
    }
    if (res.exitCode === 255 && (await this.connected())) {
      // ssh passes the remote command's code through, and ip itself exits 255 on some argument
      // errors: with the connection up, the 255 is ip's.
      return { stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? ''), exitCode: 255 };
    }
    if (res.exitCode === 255 || (res.failed && res.exitCode === undefined)) {
      // 255 is ssh's own failure.
      const why = String(res.stderr ?? res.shortMessage ?? '').trim().split('\n').filter(Boolean).pop() ?? 'ssh failed';
      throw new SshError(`cannot reach host "${this.host}" (ssh ${this.destination}): ${why}`);
    }
    return { stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? ''), exitCode: res.exitCode ?? 1 };
  }

  /**
   * A person's command on the remote host (tsnet exec), through the run's shared connection.
   * `ssh -t` when a terminal is wanted and tsnet has one to give.
   */
  async attach(argv: readonly string[], opts: AttachOptions): Promise<Attached> {
    await this.connect();
    const tty = opts.terminal && process.stdin.isTTY ? ['-t'] : [];
    return attachProcess(['ssh', ...this.baseArgs(), ...tty, '--', this.destination, attachCommandLine(argv, opts.ns)], opts);
  }

  /** True when this runner's ssh connection (the control master) is up. */
  private async connected(): Promise<boolean> {
    if (!this.controlDir) return false;
    const { res, timedOut } = await this.ssh([...this.baseArgs(), '-O', 'check', '--', this.destination], CONTROL_TIMEOUT_MS);
    return !timedOut && res.exitCode === 0;
  }

  /** One ssh process, killed (with what it started) when it runs longer than `limitMs`. */
  private async ssh(args: string[], limitMs: number, input = '') {
    const child = execa('ssh', args, { input, reject: false, stripFinalNewline: false, maxBuffer: 512 * 1024 * 1024 });
    const { result, timedOut } = await withTimeout(child.pid, child, limitMs);
    return { res: result, timedOut };
  }

  async listNetns(): Promise<string[]> {
    const res = await this.run(['ip', '-json', 'netns', 'list']);
    if (res.exitCode !== 0) throw new Error(res.stderr.trim() || `ip netns list exited with ${res.exitCode}`);
    const text = res.stdout.trim();
    if (!text) return [];
    return (JSON.parse(text) as { name: string }[]).map((n) => n.name).sort();
  }

  async close(): Promise<void> {
    if (!this.controlDir) return;
    await this.ssh([...this.baseArgs(), '-O', 'exit', '--', this.destination], CONTROL_TIMEOUT_MS);
    rmSync(this.controlDir, { recursive: true, force: true });
    this.controlDir = undefined;
    this.master = undefined;
    unclosed.delete(this);
  }

  /** close() for the 'exit' event, where only synchronous work runs. */
  closeAtExit(): void {
    if (!this.controlDir) return;
    spawnSync('ssh', [...this.baseArgs(), '-O', 'exit', '--', this.destination], { stdio: 'ignore', timeout: CONTROL_TIMEOUT_MS, killSignal: 'SIGKILL' });
    rmSync(this.controlDir, { recursive: true, force: true });
    this.controlDir = undefined;
    this.master = undefined;
    unclosed.delete(this);
  }
}

registerSshRunner((host: Host) => {
  if (host.via.kind !== 'ssh') throw new Error('internal: not an ssh host');
  return new SshRunner(host.name, host.via.destination);
});
