// The tool layer's interface: each program tsnet runs (ip, bridge, sysctl, nft; tc and file
// writes next) is one module behind it. The executor drives batches only through it.
import type { Step } from '../../planner/types.js';
import type { Runner } from '../../state/runner.js';
import type { KNamespace } from '../../state/types.js';

/** Steps of one tool, host and namespace that run in one process, in order. */
export interface Batch {
  host: string;
  ns: string | null;
  tool: string;
  level: number;
  steps: Step[];
}

export interface Failure {
  step: Step;
  /** The command's own error text. */
  error: string;
  /** The line that failed, as the program was given it. */
  command: string;
}

/** What running a batch came to: which steps ran, which failed, what it read back. */
export interface BatchOutcome {
  done: Step[];
  /** A step that ran some but not all of its lines (its undo is cut to what ran). */
  partial?: Step;
  /** Steps that may or may not have run (their process's outcome could not be told). */
  unknown?: Step[];
  failure?: Failure;
  read?: KNamespace;
}

export interface RunManyOptions {
  /** Whether a batch ends by reading its namespace back. */
  readBack: (batch: Batch) => boolean;
  concurrency: number;
  /** Called once the lines are made, right before anything runs (the journal's "started"). */
  starting: () => void;
}

export interface ToolModule {
  /** The key steps name the tool by. */
  readonly name: string;
  /** The program run. */
  readonly program: string;
  /**
   * Checks an argv and makes what the program reads for it: a batch line, an argument, a line
   * of a script. Anything that is not a plain token is a bug and throws; it never reaches the
   * program.
   */
  line(argv: readonly string[]): string;
  /**
   * The argv as the journal keeps it (default: as it is). The journal serves a later run, which
   * plans from the kernel and only needs to know what a killed run touched: a tool whose argvs
   * carry bulk data (file contents) leaves the data out.
   */
  journalArgv?(argv: readonly string[]): string[];
  /** The last batch in a namespace can read it back (so verifying costs no extra process). */
  readonly readsBack?: boolean;
  /** Large batches in a host's own stack may be cut into chunks of whole steps. */
  readonly chunks?: boolean;
  /** Runs one batch: which steps finished, which line failed and why. */
  run(runner: Runner, batch: Batch, opts: { readBack: boolean }): Promise<BatchOutcome>;
  /**
   * Runs batches of one host that are each in their own sandbox namespace, together (ip: `xargs`
   * workers start one process per namespace). Outcomes in batch order.
   */
  runMany?(runner: Runner, batches: readonly Batch[], opts: RunManyOptions): Promise<BatchOutcome[]>;
  /**
   * Runs undo commands of one namespace so that one error does not stop the rest; returns the
   * errors, each naming where it happened.
   */
  undo(runner: Runner, host: string, ns: string | null, argvs: readonly (readonly string[])[]): Promise<string[]>;
}
