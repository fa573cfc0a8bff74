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
 * they are ended when the process exits.
 */
const unclosed = new Set<SshRunner>();
let exitHook = false;

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
      this.controlDir = mkdtempSync(join(tmpdir(), 'tsnet-ssh-'));
      unclosed.add(this);
      if (!exitHook) process.once('exit', () => unclosed.forEach((r) => r.closeAtExit()));
      exitHook = true;
    }
    return [
      ...(process.env.TSNET_SSH_CONFIG ? ['-F', process.env.TSNET_SSH_CONFIG] : []),
      '-o', 'BatchMode=yes',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(this.controlDir, '%C')}`,
      '-o', 'ControlPersist=120',
      '-o', 'ConnectTimeout=10',
      '-o', 'ServerAliveInterval=15',
    ];
  }

  /**
   * Makes the connection the run's commands share. Without it, commands started at the same
   * moment (reads run in parallel) would each open a connection before the first became the
   * master.
   */
  private connect(): Promise<void> {
    this.master ??= (async () => {
      const res = await execa('ssh', [...this.baseArgs(), '--', this.destination, 'true'], { reject: false });
      if (res.exitCode !== 0) {
        this.master = undefined; // a later call may try again
        const why = String(res.stderr ?? res.shortMessage ?? '').trim().split('\n').filter(Boolean).pop() ?? `ssh exited with ${res.exitCode}`;
        throw new SshError(`cannot reach host "${this.host}" (ssh ${this.destination}): ${why}`);
      }
    })();
    return this.master;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    await this.connect();
    // env LC_ALL=C: the error texts tsnet reads are the C locale's (ssh may forward LANG).
    const remote = ['env', 'LC_ALL=C', ...(opts.ns ? [...enterNetns(opts.ns), ...argv] : argv)].map(shellQuote).join(' ');
    trace(1, ['ssh', this.destination, remote]);
    const res = await execa('ssh', [...this.baseArgs(), '--', this.destination, remote], {
      input: opts.input ?? '',
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 512 * 1024 * 1024,
    });
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
    const res = await execa('ssh', [...this.baseArgs(), '-O', 'check', '--', this.destination], { reject: false });
    return res.exitCode === 0;
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
    await execa('ssh', [...this.baseArgs(), '-O', 'exit', '--', this.destination], { reject: false });
    rmSync(this.controlDir, { recursive: true, force: true });
    this.controlDir = undefined;
    this.master = undefined;
    unclosed.delete(this);
  }

  /** close() for the 'exit' event, where only synchronous work runs. */
  closeAtExit(): void {
    if (!this.controlDir) return;
    spawnSync('ssh', [...this.baseArgs(), '-O', 'exit', '--', this.destination], { stdio: 'ignore' });
    rmSync(this.controlDir, { recursive: true, force: true });
    this.controlDir = undefined;
    this.master = undefined;
  }
}

registerSshRunner((host: Host) => {
  if (host.via.kind !== 'ssh') throw new Error('internal: not an ssh host');
  return new SshRunner(host.name, host.via.destination);
});
