// Running the command: in one sandbox with tsnet's own streams (its exit code becomes
// tsnet's), or in several at once, bounded, with output prefixed by sandbox or captured for
// JSON.
import { pool } from '../state/read.js';
import type { AttachResult, Attached, Runner } from '../state/runner.js';
import { LinePrefixer } from './prefix.js';
import type { ExecTarget } from './target.js';

export interface ExecResult {
  sandbox: string;
  host: string;
  ns: string | null;
  exitCode: number;
  signal?: string;
  /** Captured output (capture mode only; empty otherwise). */
  stdout: string;
  stderr: string;
  /** Why the command could not be started. */
  error?: string;
}

/**
 * While commands run, tsnet must outlive them to report their exit codes. Ctrl-C and Ctrl-\
 * on a terminal reach the commands directly (one process group), so tsnet only ignores them
 * there; otherwise (kill -INT from a script) it passes them on. SIGTERM and SIGHUP are always
 * passed on. Commands not yet started are then not started.
 */
class SignalRelay {
  readonly running = new Set<Attached>();
  stopped = false;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  constructor() {
    const fromTerminal = Boolean(process.stdin.isTTY);
    for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
      const relay = !(fromTerminal && (sig === 'SIGINT' || sig === 'SIGQUIT'));
      const handler = () => {
        this.stopped = true;
        if (relay) for (const c of this.running) c.kill(sig);
      };
      this.handlers.set(sig, handler);
      process.on(sig, handler);
    }
  }

  dispose(): void {
    for (const [sig, handler] of this.handlers) process.off(sig, handler);
  }
}

export interface AttachedRun {
  /** The command wants a terminal (an interactive shell, --tty): ssh -t. */
  terminal: boolean;
}

/** One sandbox, tsnet's stdin, stdout and stderr handed to the command. */
export async function runAttached(target: ExecTarget, runner: Runner, command: readonly string[], opts: AttachedRun): Promise<AttachResult> {
  if (!runner.attach) throw new Error(`internal: the runner of host "${runner.host}" cannot run commands for exec`);
  const relay = new SignalRelay();
  try {
    const child = await runner.attach(command, { ns: target.ns, stdio: 'inherit', terminal: opts.terminal });
    relay.running.add(child);
    return await child.done;
  } finally {
    relay.dispose();
  }
}

export interface ManyRun {
  /** At most this many commands at once. */
  parallel: number;
  /**
   * 'prefix': each line of output written as it comes, after its sandbox's prefix;
   * 'capture': kept for the result (JSON).
   */
  output: { mode: 'prefix'; stdoutPrefix: (sandbox: string) => string; stderrPrefix: (sandbox: string) => string } | { mode: 'capture' };
  /** tsnet's stdin goes to the command (only sensible for one sandbox). */
  stdin: boolean;
}

/** Several sandboxes (or one, for JSON): results in the targets' order. */
export async function runMany(targets: readonly ExecTarget[], runners: ReadonlyMap<string, Runner>, command: readonly string[], opts: ManyRun): Promise<ExecResult[]> {
  const relay = new SignalRelay();
  try {
    return await pool(targets, opts.parallel, async (t) => {
      if (relay.stopped) return { sandbox: t.sandbox, host: t.host, ns: t.ns, exitCode: 130, stdout: '', stderr: '', error: 'not started: tsnet was interrupted' };
      return runOne(t, runners.get(t.host)!, command, opts, relay);
    });
  } finally {
    relay.dispose();
  }
}

async function runOne(t: ExecTarget, runner: Runner, command: readonly string[], opts: ManyRun, relay: SignalRelay): Promise<ExecResult> {
  if (!runner.attach) throw new Error(`internal: the runner of host "${runner.host}" cannot run commands for exec`);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const prefixed =
    opts.output.mode === 'prefix'
      ? {
          out: new LinePrefixer(opts.output.stdoutPrefix(t.sandbox), (s) => process.stdout.write(s)),
          err: new LinePrefixer(opts.output.stderrPrefix(t.sandbox), (s) => process.stderr.write(s)),
        }
      : undefined;
  const child = await runner.attach(command, {
    ns: t.ns,
    stdio: 'pipe',
    stdin: opts.stdin,
    onStdout: (c) => (prefixed ? prefixed.out.push(c) : out.push(c)),
    onStderr: (c) => (prefixed ? prefixed.err.push(c) : err.push(c)),
  });
  relay.running.add(child);
  const res = await child.done;
  relay.running.delete(child);
  prefixed?.out.end();
  prefixed?.err.end();
  return {
    sandbox: t.sandbox,
    host: t.host,
    ns: t.ns,
    exitCode: res.exitCode,
    ...(res.signal ? { signal: res.signal } : {}),
    ...(res.error ? { error: res.error } : {}),
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

/** "b (exit 7), c (signal SIGKILL, exit 137)": the sandboxes whose command failed. */
export function describeFailures(results: readonly ExecResult[]): string {
  return results
    .filter((r) => r.exitCode !== 0)
    .map((r) => `${r.sandbox} (${r.error ? `${r.error}, ` : ''}${r.signal ? `signal ${r.signal}, ` : ''}exit ${r.exitCode})`)
    .join(', ');
}
