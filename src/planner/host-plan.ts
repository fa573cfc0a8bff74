// One host's plan while it is made: appliers write each resource's part (its change, steps,
// errors, what it holds now), then the passes (passes.ts) work out what the parts do to each
// other. Nothing here knows a driver or a resource kind's details.
import type { Spec } from './desired.js';
import { keyOfStep, type Action, type Change, type Command, type ObjectRef, type PlanError, type ResourceKind, type Step, type StepRef, type Tool } from './types.js';

/** A dependency on another step: on this host unless `host` says otherwise. */
export interface StepDep {
  address: string;
  phase: string;
  host?: string;
}

/**
 * A dependency on a set of steps known only once every applier has spoken (resolved by the
 * planner): the endpoint steps of a sandbox (routes and sysctls need its interfaces), the route
 * deletions of a sandbox (before its links go), the port deletions of the host (before a bridge
 * goes: a namespace's deletion takes its veths along).
 */
export type Relation = { rel: 'endpoints-of'; sandbox: string } | { rel: 'route-deletions-of'; sandbox: string } | { rel: 'port-deletions' };

export type Dep = StepDep | Relation;

/** A step as an applier writes it. */
export interface StepDraft {
  phase: string;
  ns: string | null;
  tool?: Tool;
  action: Action;
  /** The step takes something away: it runs before anything is made. */
  deletion?: boolean;
  description: string;
  do: string[][];
  undo: Command[];
  creates?: ObjectRef[];
  deletes?: ObjectRef[];
  marks?: ObjectRef[];
  after?: Dep[];
}

/** Shared by every step that makes, deletes or marks nothing: never written to. */
export const NO_OBJECTS: ObjectRef[] = Object.freeze([]) as unknown as ObjectRef[];

/** The dependencies of a step until the planner resolves them (then replaced, never written to). */
const NO_DEPS: string[] = Object.freeze([]) as unknown as string[];

/**
 * A name a resource wants that something else holds now. It is an error unless this plan
 * frees the name first (the holder, or what holds the holder, is deleted by one of its steps),
 * or the wanted object goes into a namespace this plan makes.
 */
export interface Clash {
  want: ObjectRef;
  holder: ObjectRef;
  message: string;
}

/** Order of the resource kinds in a plan: how steps are listed where dependencies leave it free. */
export const KIND_RANK: Record<ResourceKind, number> = { sandbox: 0, network: 1, endpoint: 2, route: 3, nat: 4, qdisc: 5, firewall: 6, hostsfile: 7, hosts: 8, resolv: 9 };

/** Lists that stay empty for most resources share one frozen array until the first item comes. */
const EMPTY: never[] = Object.freeze([]) as unknown as never[];
const append = <T>(list: T[], item: T): T[] => (list.length ? (list.push(item), list) : [item]);

/** One resource's part of a host's plan, as its applier wrote it. */
export class ResourcePlan {
  change?: Change;
  steps: Step[] = EMPTY;
  errors: PlanError[] = EMPTY;
  clashes: Clash[] = EMPTY;
  notes: string[] = EMPTY;
  /** The namespace the resource's kernel objects are in now (endpoints, routes): passes look for it among the deleted ones. */
  inNamespace?: string;
  /** What it is now, read back from the kernel (a spec but for what only the file says). */
  have?: object;
  /** What the file wants; the passes hand it back on a re-plan. */
  want?: Spec;
  /** Commands that put back what the resource holds now, for a step of another resource that takes it along. */
  restore?: () => Command[];
  /** Commands that put its ports back on a bridge another step deletes (see passes: bridgeTakesItsPorts). */
  reattach: Command[] = EMPTY;
  constructor(
    readonly host: string,
    readonly address: string,
    readonly kind: ResourceKind,
    /** The dependencies of the host's steps as written, by step id (shared by the host's resources). */
    private readonly deps: Map<string, Dep[]>,
    /** Told when the steps change (with how many more steps delete something), so the host's lists are made again. */
    private readonly changed: (deleting: number) => void = () => {},
  ) {}

  /** Adds a step; returns it (its identity is what other steps name). */
  step(d: StepDraft): StepRef {
    const step: Step = {
      id: keyOfStep(this.host, this.address, d.phase),
      host: this.host,
      address: this.address,
      phase: d.phase,
      ns: d.ns,
      tool: d.tool ?? 'ip',
      action: d.action,
      isDeletion: d.deletion ?? false,
      description: d.description,
      do: d.do,
      undo: d.undo,
      creates: d.creates ?? NO_OBJECTS,
      deletes: d.deletes ?? NO_OBJECTS,
      marks: d.marks ?? NO_OBJECTS,
      after: NO_DEPS,
    };
    this.steps = append(this.steps, step);
    if (d.after?.length) this.deps.set(step.id, d.after);
    this.changed(step.deletes.length ? 1 : 0);
    return step;
  }

  /** Takes a step out of the plan (a pass folded it into another, or the resource makes nothing). */
  removeStep(step: Step): void {
    this.steps = this.steps.filter((s) => s !== step);
    this.deps.delete(step.id);
    this.changed(step.deletes.length ? -1 : 0);
  }

  /** The resource's change; what it is and what it becomes are added when the plan is done (see HostPlan.changes). */
  setChange(action: Action, summary: string, reasons: string[]): void {
    this.change = { action, host: this.host, address: this.address, kind: this.kind, summary, reasons, before: null, after: null };
  }

  error(message: string): void {
    this.errors = append(this.errors, { host: this.host, address: this.address, message });
  }

  clash(c: Clash): void {
    this.clashes = append(this.clashes, c);
  }

  note(text: string): void {
    this.notes = append(this.notes, text);
  }
}

/** A note with the place it is listed at: after the notes of earlier kinds of resources. */
interface RankedNote {
  rank: number;
  text: string;
}

/**
 * The objects a host's steps delete (addresses aside), each with the step that takes it away.
 * A namespace's deletion takes everything in it: objects inside a deleted namespace are found
 * through the namespace, and only those another step deletes on its own are recorded.
 */
export class DeletionIndex {
  /** Namespaces deleted, each with its deletion. */
  readonly namespaces = new Map<string, Step>();
  /** kind -> namespace ('' for the host's own stack) -> name -> step; made when first asked (most passes need only the namespaces). */
  private indexed?: Map<string, Map<string, Map<string, Step>>>;
  private count = 0;
  /** Steps folded into others since the index was made (no longer in the plan). */
  private readonly folded = new Set<Step>();

  constructor(private readonly steps: readonly Step[]) {
    for (const s of steps) for (const o of s.deletes) if (o.kind === 'netns') this.namespaces.set(o.name, s);
  }

  private get objects(): Map<string, Map<string, Map<string, Step>>> {
    if (!this.indexed) {
      this.indexed = new Map();
      for (const s of this.steps) if (!this.folded.has(s)) this.record(s.deletes, s, { replace: false });
    }
    return this.indexed;
  }

  /** How many objects other than namespaces the plan deletes on their own. */
  get size(): number {
    return this.objects.size === 0 ? 0 : this.count;
  }

  /** Records that `folded`'s deletions are `taker`'s now. */
  fold(folded: Step, taker: Step): void {
    this.folded.add(folded);
    for (const o of folded.deletes) if (o.kind === 'netns') this.namespaces.set(o.name, taker);
    if (this.indexed) this.record(folded.deletes, taker, { replace: true });
  }

  private record(objects: readonly ObjectRef[], step: Step, opts: { replace: boolean }): void {
    for (const o of objects) {
      if (o.kind === 'addr' || o.kind === 'netns') continue;
      if (o.ns !== null && this.namespaces.get(o.ns) === step) {
        // Found through its namespace from now on.
        if (opts.replace && this.indexed!.get(o.kind)?.get(o.ns)?.delete(o.name)) this.count--;
        continue;
      }
      let byNs = this.indexed!.get(o.kind);
      if (!byNs) this.indexed!.set(o.kind, (byNs = new Map()));
      let byName = byNs.get(o.ns ?? '');
      if (!byName) byNs.set(o.ns ?? '', (byName = new Map()));
      if (!byName.has(o.name)) this.count++;
      else if (!opts.replace) continue;
      byName.set(o.name, step);
    }
  }

  private get(kind: string, ns: string | null, name: string): Step | undefined {
    return this.objects.get(kind)?.get(ns ?? '')?.get(name) ?? (ns !== null ? this.namespaces.get(ns) : undefined);
  }

  /** The step that takes the link `name` in `ns` away (null: the host's own stack): its deletion, or its namespace's. */
  link(ns: string | null, name: string): Step | undefined {
    return this.get('link', ns, name);
  }

  /** True when the plan deletes the object, or what holds it: its namespace, or the link it is on. */
  takes(o: ObjectRef): boolean {
    if (o.kind === 'netns') return this.namespaces.has(o.name);
    return this.get(o.kind, o.ns, o.name) !== undefined || (o.dev !== undefined && this.link(o.ns, o.dev) !== undefined);
  }

  /** True when no step deletes anything (but addresses). */
  get empty(): boolean {
    return this.namespaces.size === 0 && this.size === 0;
  }
}

const byAddress = (a: ResourcePlan, b: ResourcePlan) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

/** One host's plan: its resources' parts, and what the passes added. */
export class HostPlan {
  private readonly parts = new Map<string, ResourcePlan>();
  /** Steps a pass added that belong to no resource's own plan (marks of half-made objects), listed last. */
  readonly extraSteps: Step[] = [];
  /** The dependencies of every step, as written, by step id. */
  readonly deps = new Map<string, Dep[]>();
  private readonly passNotes: RankedNote[] = [];
  /** Errors about the host itself (its state was not read). */
  private readonly hostErrors: PlanError[] = [];
  private ordered?: ResourcePlan[];
  private stepList?: Step[];
  private deletionIndex?: DeletionIndex;
  /** How many steps delete something: the passes about deletions have nothing to do without any. */
  private deleting = 0;
  private readonly touched = (deleting = 0) => {
    this.deleting += deleting;
    this.stepList = undefined;
    this.deletionIndex = undefined;
  };

  /** True when some step deletes something (an object, an address). */
  get deletes(): boolean {
    return this.deleting > 0;
  }

  constructor(readonly host: string) {}

  /** The part of a resource, empty the first time it is asked for. */
  resource(address: string, kind: ResourceKind): ResourcePlan {
    let r = this.parts.get(address);
    if (!r) {
      r = new ResourcePlan(this.host, address, kind, this.deps, this.touched);
      this.parts.set(address, r);
      this.ordered = undefined;
    }
    return r;
  }

  get(address: string): ResourcePlan | undefined {
    return this.parts.get(address);
  }

  /** Forgets what a resource's applier wrote, before it plans the resource again. */
  reset(address: string): ResourcePlan {
    const old = this.parts.get(address);
    for (const s of old?.steps ?? []) {
      this.deps.delete(s.id);
      if (s.deletes.length) this.deleting--;
    }
    const r = new ResourcePlan(this.host, address, old?.kind ?? 'endpoint', this.deps, this.touched);
    if (old?.want) r.want = old.want;
    this.parts.set(address, r);
    this.ordered = undefined;
    this.touched();
    return r;
  }

  /**
   * The resources in plan order: by kind, then by address. Each kind comes from one applier,
   * which usually writes its resources in order already: a kind is sorted only when it is not.
   */
  resources(): ResourcePlan[] {
    if (this.ordered) return this.ordered;
    const byKind: ResourcePlan[][] = Object.values(KIND_RANK).map((): ResourcePlan[] => []);
    for (const r of this.parts.values()) byKind[KIND_RANK[r.kind]]!.push(r);
    const out: ResourcePlan[] = [];
    for (const list of byKind) {
      let sorted = true;
      for (let i = 1; i < list.length && sorted; i++) sorted = byAddress(list[i - 1]!, list[i]!) <= 0;
      if (!sorted) list.sort(byAddress);
      for (const r of list) out.push(r);
    }
    this.ordered = out;
    return out;
  }

  /** Every step, in plan order. */
  steps(): Step[] {
    if (this.stepList) return this.stepList;
    const out: Step[] = [];
    for (const r of this.resources()) for (const s of r.steps) out.push(s);
    for (const s of this.extraSteps) out.push(s);
    this.stepList = out;
    return out;
  }

  /** What the steps delete, each object with the step that does (made again after any change to the steps). */
  deletions(): DeletionIndex {
    this.deletionIndex ??= new DeletionIndex(this.steps());
    return this.deletionIndex;
  }

  /**
   * Folds a deletion into the step that takes its objects along: that step deletes them now, and
   * its undo rebuilds them.
   */
  fold(step: Step, taker: Step): void {
    taker.undo.push(...step.undo);
    taker.deletes = [...taker.deletes, ...step.deletes];
    const index = this.deletionIndex;
    this.parts.get(step.address)!.removeStep(step);
    if (index) {
      index.fold(step, taker);
      this.deletionIndex = index;
    }
  }

  /** Makes a step wait for another (a pass found that it must). */
  addDep(step: Step, dep: Dep): void {
    this.deps.set(step.id, [...(this.deps.get(step.id) ?? []), dep]);
  }

  /** A step a pass adds that is not part of a resource's own plan: listed after all others. */
  extraStep(address: string, d: StepDraft): void {
    const scratch = new ResourcePlan(this.host, address, 'endpoint', this.deps);
    scratch.step(d);
    this.extraSteps.push(...scratch.steps);
    this.touched();
  }

  note(text: string, kind: ResourceKind): void {
    this.passNotes.push({ rank: KIND_RANK[kind], text });
  }

  /** Notes of the resources and of the passes, each once, by kind. */
  notes(): string[] {
    const ranked: RankedNote[] = [];
    for (const r of this.resources()) if (r.notes.length) for (const text of r.notes) ranked.push({ rank: KIND_RANK[r.kind], text });
    ranked.push(...this.passNotes);
    const out: string[] = [];
    for (const n of ranked.sort((a, b) => a.rank - b.rank)) if (!out.includes(n.text)) out.push(n.text);
    return out;
  }

  /** The changes, each with the resource as it is (before) and as it becomes (after): null where it is not there. */
  changes(): Change[] {
    const out: Change[] = [];
    for (const r of this.resources()) {
      const c = r.change;
      if (!c) continue;
      c.before = c.action === 'create' ? null : (r.have ?? null);
      c.after = c.action === 'delete' ? null : (r.want ?? null);
      out.push(c);
    }
    return out;
  }

  error(address: string, message: string): void {
    this.hostErrors.push({ host: this.host, address, message });
  }

  errors(): PlanError[] {
    return [...this.hostErrors, ...this.resources().flatMap((r) => r.errors)];
  }
}
