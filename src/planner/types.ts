// What a plan is made of (terraform's plans package, in TypeScript): a closed set of actions,
// changes per resource with reasons for people, and steps as data for the executor.

export type Action = 'create' | 'update' | 'delete' | 'replace';

export const SYMBOL: Record<Action, string> = { create: '+', update: '~', delete: '-', replace: '-/+' };

export type ResourceKind = 'sandbox' | 'network' | 'nat' | 'endpoint' | 'route';

/**
 * One resource's change. For create there is no "before"; for delete no "after"; update and
 * replace have both. `reasons` are for display only.
 */
export interface Change {
  action: Action;
  host: string;
  address: string;
  kind: ResourceKind;
  /** One line describing the resource, e.g. "bridge tsn-web 198.18.10.1/24". */
  summary: string;
  reasons: string[];
}

/**
 * The programs a step can run. ip and bridge lines run batched (-batch -); sysctl takes k=v args;
 * nft lines run as one script (`nft -f -`), all or nothing.
 */
export type Tool = 'ip' | 'bridge' | 'sysctl' | 'nft';

/** One command: a batch line (argv without the program) for a tool, on a host, in a namespace. */
export interface Command {
  host: string;
  /** null: the host's own stack. */
  ns: string | null;
  tool: Tool;
  argv: string[];
}

export interface Step {
  /** Unique in the plan: "<host>|<address>|<phase>". */
  id: string;
  host: string;
  ns: string | null;
  tool: Tool;
  address: string;
  action: Action;
  /** For progress lines, e.g. "create bridge tsn-web". */
  description: string;
  /** Lines run in one batch, in order. */
  do: string[][];
  /** Commands that reverse the step, in order; they may reach other namespaces. */
  undo: Command[];
  /** Ids of steps that must finish first. */
  after: string[];
}

/** Something that stops a plan: a name clash, a missing parent, an unreadable object. */
export interface PlanError {
  host: string;
  address: string;
  message: string;
}

/** The journal of an apply that did not finish (killed), as the next plan sees it. */
export interface Interrupted {
  pid: number;
  started: string;
  /** Its steps (what it was making) and the ids it recorded as done. */
  steps: Pick<Step, 'id' | 'host' | 'ns' | 'tool' | 'address' | 'do'>[];
  done: string[];
  /** The ids of the steps that began to run: only what they make can be half made. */
  begun: string[];
}

export interface Plan {
  /** Things the reader of the plan should know first (e.g. an interrupted apply). */
  notes?: string[];
  topology: string;
  changes: Change[];
  steps: Step[];
  errors: PlanError[];
  /** Hosts in topology order, for grouping output. */
  hosts: string[];
  /** True when the topology has no `hosts:` and runs on this machine only. */
  implicitHost: boolean;
}

export const countChanges = (changes: readonly Change[]) => ({
  add: changes.filter((c) => c.action === 'create' || c.action === 'replace').length,
  change: changes.filter((c) => c.action === 'update').length,
  destroy: changes.filter((c) => c.action === 'delete' || c.action === 'replace').length,
});
