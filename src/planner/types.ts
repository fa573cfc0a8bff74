// What a plan is made of (terraform's plans package, in TypeScript): a closed set of actions,
// changes per resource with reasons for people, and steps as data for the executor.
import type { Tool } from '../executor/tools/index.js';

export type { Tool };

export type Action = 'create' | 'update' | 'delete' | 'replace';

export const SYMBOL: Record<Action, string> = { create: '+', update: '~', delete: '-', replace: '-/+' };

export type ResourceKind = 'sandbox' | 'network' | 'nat' | 'endpoint' | 'route' | 'qdisc' | 'firewall' | 'hostsfile' | 'hosts' | 'resolv';

/**
 * One resource's change (terraform's contract): for create, `before` is null; for delete,
 * `after` is null; update and replace have both. `before` is the resource as read from the
 * kernel, `after` as the file wants it, both plain data. `reasons` are for people only: no code
 * reads them.
 */
export interface Change {
  action: Action;
  host: string;
  address: string;
  kind: ResourceKind;
  /** One line describing the resource, e.g. "bridge tsn-web 198.18.10.1/24". */
  summary: string;
  reasons: string[];
  before: object | null;
  after: object | null;
}

/** The kinds of kernel objects steps make, delete and mark. */
export type ObjectKind = 'netns' | 'link' | 'addr' | 'route' | 'neigh' | 'fdb' | 'nft-table' | 'nft-chain' | 'file';

/**
 * A kernel object a step (or an undo command) makes, deletes or marks, as data: rollback,
 * adoption after a kill, fingerprints, confirm and the journal read these, never the argv.
 */
export interface ObjectRef {
  kind: ObjectKind;
  host: string;
  /** The namespace the object is in; null: the host's own stack (and for a namespace itself). */
  ns: string | null;
  /** Its name: a namespace or interface name, an address's CIDR, a route's destination, a table or chain name. */
  name: string;
  /** Links: the kind the kernel shows (bridge, veth, macvlan, vxlan); adoption takes only that kind. */
  linkKind?: string;
  /** Addresses, routes, neighbour and forwarding entries: the link they are on. */
  dev?: string;
  /** The resource address of the ownership mark the object carries once the step ran. */
  mark?: string;
}

/** A step's identity: a value, compared field by field; `stepKey` makes the string key for maps and JSON. */
export interface StepRef {
  host: string;
  address: string;
  phase: string;
}

/** The key of a step (its `id`): for maps and JSON only, never taken apart again. */
export const stepKey = (r: StepRef): string => keyOfStep(r.host, r.address, r.phase);

/** stepKey without a StepRef to make (the planner's hot path). */
export const keyOfStep = (host: string, address: string, phase: string): string => `${host}|${address}|${phase}`;

/** One command: a line (argv without the program) for a tool, on a host, in a namespace. */
export interface Command {
  host: string;
  /** null: the host's own stack. */
  ns: string | null;
  tool: Tool;
  argv: string[];
  /** What the command makes (a rollback that makes a namespace again). */
  creates?: ObjectRef[];
  /** What the command deletes (confirm deletes only what is still the topology's). */
  deletes?: ObjectRef[];
}

export interface Step extends StepRef {
  /** stepKey of host, address and phase: unique in the plan. */
  id: string;
  ns: string | null;
  tool: Tool;
  action: Action;
  /** True for the steps that take something away: they all run before anything is made. */
  isDeletion: boolean;
  /** For progress lines, e.g. "create bridge tsn-web". */
  description: string;
  /** Lines run in one batch, in order. */
  do: string[][];
  /** Commands that reverse the step, in order; they may reach other namespaces. */
  undo: Command[];
  /** Objects the do lines make; each with the mark it gets. */
  creates: ObjectRef[];
  /** Objects the do lines delete (with what goes along with them, e.g. both ends of a veth). */
  deletes: ObjectRef[];
  /** Objects that were there before the step and that it marks as the topology's (adoption). */
  marks: ObjectRef[];
  /** Ids of steps that must finish first. */
  after: string[];
}

/** Something that stops a plan: a name clash, a missing parent, an unreadable object. */
export interface PlanError {
  host: string;
  address: string;
  message: string;
}

/** What the journal keeps of a step: enough to tell what a killed run may have made. */
export type JournalStep = Pick<Step, 'id' | 'host' | 'ns' | 'tool' | 'address' | 'creates' | 'marks'>;

/** An unmarked object taken as the topology's (half made by a killed run), with the mark it gets. */
export interface AdoptedObject {
  object: ObjectRef;
  mark: string;
  /** The start (ISO time) of the journal of the run that may have made it: it cannot be older. */
  since: string;
}

/** The journal of an apply that did not finish (killed), as the next plan sees it. */
export interface Interrupted {
  pid: number;
  started: string;
  /** Its steps (what it was making) and the ids it recorded as done. */
  steps: JournalStep[];
  done: string[];
  /** The ids of the steps that began to run: only what they make can be half made. */
  begun: string[];
  /**
   * The ids of the steps whose undo commands began to run (a killed rollback): what those make
   * again (a namespace or link the run had deleted) may be left unmarked too.
   */
  undoBegun?: string[];
  /** What the objects the undo commands of each step make (by step id). */
  undoCreates?: Map<string, ObjectRef[]>;
  /** The run was rolling back when it was killed; 'rolled-back': it ended, but left `adopted`. */
  phase?: 'apply' | 'rollback' | 'rolled-back';
  /** Objects that run took over from an earlier killed run and may not have marked yet. */
  adopted?: AdoptedObject[];
  /** The highest ifindex per host and namespace ('' = own stack) when the run began (adoption's witness for links). */
  ifindexes?: Record<string, Record<string, number>>;
  /** 'adopt': not a journal but `apply --adopt` (every step counts as begun). */
  source?: 'journal' | 'adopt';
}

export interface Plan {
  /** Things the reader of the plan should know first (e.g. an interrupted apply). */
  notes?: string[];
  /** Unmarked objects this plan takes as the topology's (from a killed run's journal). */
  adopted?: AdoptedObject[];
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
