// Failure injection for kernel tests: a Runner that makes the K-th line of an apply fail for
// real. It counts every line it is asked to run, across all processes and all runners sharing
// one Fault: each line of an `ip -batch -` or `bridge -batch -` input, and each `k=v` argument
// of `sysctl -w`. Not counted: the lines that read state (link/addr/route/neigh show, sysctl
// reads) and rollbacks (`-force` batches, and every line once the fault has fired). The K-th
// line is replaced by one the kernel refuses, so the failure comes from ip (or sysctl) itself:
//   ip:     link set dev tsnet-injected-fault up      -> Cannot find device "tsnet-injected-fault"
//   sysctl: net.ipv4.tsnet_injected_fault=1           -> cannot stat /proc/sys/net/ipv4/tsnet_injected_fault
//   nft:    add chain inet tsnet-injected-fault fault  -> Could not process rule: No such file or directory
//   file:   tsnet-injected-fault ...                   -> unknown operation tsnet-injected-fault
// (each line of an `nft -f -` script counts; a script is a transaction, so nothing of it is done)
// It leaves Runner.fanOut unset, so the executor sends every batch through run() (not through
// the xargs fan-out of src/state/fanout.ts), where it can be counted and rewritten.
import { opLine, parseOpLine } from '../../src/executor/tools/file.js';
import type { FileAccess } from '../../src/state/files.js';
import type { Runner, RunOptions, RunResult } from '../../src/state/runner.js';
import { assertInLab } from './lab.js';

export const FAULT_DEVICE = 'tsnet-injected-fault';
export const FAULT_IP_LINE = `link set dev ${FAULT_DEVICE} up`;
export const FAULT_SYSCTL = 'net.ipv4.tsnet_injected_fault';
/** What ip prints for the injected line (part of its own error text). */
export const FAULT_IP_ERROR = `Cannot find device "${FAULT_DEVICE}"`;
/**
 * The other way ip fails: some argument errors make it exit 255 from the middle of a batch,
 * without "Command failed -:N" (Fault kind 'exit255').
 */
export const FAULT_IP_EXIT255_LINE = `link set lo master ${FAULT_DEVICE}`;
export const FAULT_IP_EXIT255_ERROR = `argument "${FAULT_DEVICE}" is wrong: Device does not exist`;
export const FAULT_NFT_LINE = 'add chain inet tsnet-injected-fault fault';
/** A file-tool line its script refuses ("unknown operation"). */
export const FAULT_FILE_LINE = 'tsnet-injected-fault /etc/netns/tsnet-injected-fault/hosts x';
/** What the file tool's script says for it. */
export const FAULT_FILE_ERROR = 'unknown operation tsnet-injected-fault';
/** What nft prints for the injected line. */
export const FAULT_NFT_ERROR = 'No such file or directory';

const READS = /^(link|addr|address|route|neigh|fdb) show\b/;

export interface Counted {
  host: string;
  ns: string | null;
  tool: 'ip' | 'bridge' | 'sysctl' | 'nft' | 'file';
  /** The line as the executor wrote it (a batch line, or sysctl's k=v). */
  line: string;
}

/**
 * Shared by every runner of one run: counts lines, and fires at line `at` (1-based; 0: never),
 * or, with a `target`, at the first counted line that is that one (same host, namespace, tool
 * and text) wherever it comes. Batches of different kinds may run side by side (the host's
 * batches beside a group of namespace batches), so the position of a line can differ from one
 * run to the next; a target names the same step's line in every run.
 */
export class Fault {
  count = 0;
  /** Every counted line, in order. */
  readonly seen: Counted[] = [];
  /** The line replaced, once fired. */
  fired?: Counted;
  constructor(
    public at = 0,
    /** How an ip line fails: refused by the kernel (Command failed -:N), or ip exiting 255. */
    public kind: 'refused' | 'exit255' = 'refused',
    public target?: Counted,
  ) {}

  /** Starts counting again for another run of the same plan, failing line `at`. */
  reset(at: number, kind: Fault['kind'] = 'refused', target?: Counted): void {
    this.count = 0;
    this.seen.length = 0;
    this.fired = undefined;
    this.at = at;
    this.kind = kind;
    this.target = target;
  }
}

const sameLine = (a: Counted, b: Counted) => a.host === b.host && a.ns === b.ns && a.tool === b.tool && a.line === b.line;

export class FaultyRunner implements Runner {
  constructor(
    private readonly inner: Runner,
    private readonly fault: Fault,
  ) {
    // It runs real commands: like every helper of the kernel tests, only inside the lab.
    assertInLab(['FaultyRunner', inner.describe]);
  }

  get host(): string {
    return this.inner.host;
  }
  get machine(): string {
    return this.inner.machine;
  }
  get describe(): string {
    return `${this.inner.describe} (with failure injection)`;
  }

  /**
   * The names files of this machine, in-process like the inner runner's: each line of an
   * apply's file batch counts, and the injected one is refused like an unknown operation.
   */
  get files(): FileAccess | undefined {
    const inner = this.inner.files;
    if (!inner) return undefined;
    return {
      read: (paths) => inner.read(paths),
      apply: (ops, mode) =>
        inner.apply(mode === 'stop' ? ops.map((op) => (this.count({ host: this.host, ns: null, tool: 'file', line: opLine(op) }) ? parseOpLine(FAULT_FILE_LINE) : op)) : ops, mode),
    };
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const tool = argv[0];
    const ns = opts.ns ?? null;
    if ((tool === 'ip' || tool === 'bridge') && argv.includes('-batch') && !argv.includes('-force') && opts.input !== undefined && !this.fault.fired) {
      const lines = opts.input.split('\n').map((text) => {
        if (!text.trim() || READS.test(text.trim())) return text;
        if (!this.count({ host: this.host, ns, tool, line: text })) return text;
        return tool === 'ip' && this.fault.kind === 'exit255' ? FAULT_IP_EXIT255_LINE : FAULT_IP_LINE;
      });
      return this.inner.run(argv, { ...opts, input: lines.join('\n') });
    }
    if (tool === 'nft' && argv.includes('-f') && opts.input !== undefined && !this.fault.fired) {
      const lines = opts.input.split('\n').map((text) => (text.trim() && this.count({ host: this.host, ns, tool, line: text }) ? FAULT_NFT_LINE : text));
      return this.inner.run(argv, { ...opts, input: lines.join('\n') });
    }
    // The file tool on an ssh host (names files): a line of its script's input; the injected one
    // is an operation the script refuses, so it fails there after running the lines before it.
    if (tool === 'sh' && argv[3] === 'tsnet-files' && argv[4] === 'stop' && opts.input !== undefined && !this.fault.fired) {
      const lines = opts.input.split('\n').map((text) => (text.trim() && this.count({ host: this.host, ns, tool: 'file', line: text }) ? FAULT_FILE_LINE : text));
      return this.inner.run(argv, { ...opts, input: lines.join('\n') });
    }
    const w = argv.indexOf('-w');
    if (tool === 'sysctl' && w >= 0 && !this.fault.fired) {
      const args = argv.map((a, i) => (i > w && a.includes('=') && this.count({ host: this.host, ns, tool, line: a }) ? `${FAULT_SYSCTL}=1` : a));
      return this.inner.run(args, opts);
    }
    return this.inner.run(argv, opts);
  }

  /** Counts a line; true when it is the one to fail. */
  private count(c: Counted): boolean {
    if (this.fault.fired) return false;
    this.fault.count++;
    this.fault.seen.push(c);
    if (this.fault.target ? !sameLine(c, this.fault.target) : this.fault.count !== this.fault.at) return false;
    this.fault.fired = c;
    return true;
  }

  listNetns(): Promise<string[]> {
    return this.inner.listNetns();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
