// plan(desired, actual): pure. No I/O, no clock. Each host's resources are compared one by one
// by the applier of their kind; the passes then work out what their steps do to each other
// (passes.ts); the steps are ordered into a DAG: namespaces -> bridges -> veth pairs ->
// addresses -> routes to create, the reverse to destroy.
import { APPLIERS } from '../appliers/index.js';
import type { PlanContext, ResourceApplier } from '../appliers/types.js';
import { HostView, adoptFrom, adoptObject, type Adoption } from '../appliers/view.js';
import { parseMark } from '../state/ownership.js';
import type { LiveState } from '../state/types.js';
import type { Desired, Spec } from './desired.js';
import { HostPlan, type Relation } from './host-plan.js';
import { FINAL_PASSES, PASSES } from './passes.js';
import { keyOfStep, type AdoptedObject, type Change, type Interrupted, type Plan, type ResourceKind, type Step } from './types.js';

export interface PlanInput {
  topology: string;
  /** Hosts in topology order. */
  hosts: readonly string[];
  implicitHost: boolean;
  desired: Desired;
  live: LiveState;
  /** Host -> machine; hosts on one machine share its named namespaces. Default: one machine each. */
  machines?: ReadonlyMap<string, string>;
  /** The journal of an apply of this topology that was killed: its half-made objects are ours. */
  interrupted?: Interrupted;
  /** The plan removes the whole topology (tsnet destroy): its changes need no reasons, but for marks. */
  destroy?: boolean;
  /** The resource appliers, in the order they are called (which does not change the plan). */
  appliers?: readonly ResourceApplier[];
}

const KIND_ORDER: Record<ResourceKind, number> = { sandbox: 0, network: 1, nat: 2, endpoint: 3, route: 4, qdisc: 5, firewall: 6, hostsfile: 7, hosts: 8, resolv: 9 };

export function plan(input: PlanInput): Plan {
  const appliers = input.appliers ?? APPLIERS;
  const byKind = new Map(appliers.map((a) => [a.kind, a]));
  const adoptions = adoptionsOf(input.interrupted);
  const belongsOn = ownership(input);
  const hostPlans: HostPlan[] = [];
  const views: HostView[] = [];
  for (const host of input.hosts) {
    const state = input.live.hosts.get(host);
    const out = new HostPlan(host);
    hostPlans.push(out);
    if (!state) {
      out.error(`host.${host}`, `the state of host "${host}" was not read`);
      continue;
    }
    const ctx: PlanContext = {
      topology: input.topology,
      host,
      view: new HostView(input.topology, state, belongsOn(host), adoptions.get(host), externalOf(input.desired.get(host))),
      desired: input.desired.get(host) ?? new Map<string, Spec>(),
    };
    views.push(ctx.view);
    for (const r of ctx.view.refused) out.error(r.address, r.message);
    for (const a of appliers) a.planHost(ctx, out);
    const passInput = { ctx, out, appliers: byKind, ...(input.interrupted ? { interrupted: input.interrupted } : {}) };
    for (const pass of PASSES) pass(passInput);
    if (input.destroy) for (const r of out.resources()) if (r.change) r.change.reasons = [];
    for (const pass of FINAL_PASSES) pass(passInput);
  }
  const steps = hostPlans.length === 1 ? hostPlans[0]!.steps() : hostPlans.flatMap((h) => h.steps());
  resolveDependencies(steps, hostPlans);
  const hostIndex = new Map(input.hosts.map((h, i) => [h, i]));
  const changes = hostPlans
    .flatMap((h) => h.changes())
    .sort(
      (a: Change, b: Change) =>
        (hostIndex.get(a.host) ?? 0) - (hostIndex.get(b.host) ?? 0) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.address.localeCompare(b.address),
    );
  const adopted = adoptedBy(views, adoptions, input.interrupted?.started);
  // A rolled-back run's adoptions matter only while something is still unmarked.
  const stale = input.interrupted?.phase === 'rolled-back' && !adopted.length;
  const leftovers = [...new Set(views.flatMap((v) => v.leftovers))].map(
    (n) => `/run/netns/${n} is a file with no namespace mounted on it (what a killed "ip netns add" leaves): it holds nothing, and tsnet leaves it alone; "ip netns del ${n}" removes it.`,
  );
  const notes = [...(stale ? [] : interruptedNote(input)), ...leftovers, ...hostPlans.flatMap((h) => h.notes())];
  return {
    ...(notes.length ? { notes: [...new Set(notes)] } : {}),
    ...(adopted.length ? { adopted } : {}),
    topology: input.topology,
    changes,
    steps: orderSteps(steps),
    errors: hostPlans.flatMap((h) => h.errors()),
    hosts: [...input.hosts],
    implicitHost: input.implicitHost,
  };
}

/** The external sandboxes the file names on a host: namespace name -> sandbox address. */
function externalOf(specs: ReadonlyMap<string, Spec> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of specs?.values() ?? []) if (s.kind === 'sandbox' && s.external) out.set(s.netns, s.address);
  return out;
}

function interruptedNote(input: PlanInput): string[] {
  const i = input.interrupted;
  if (!i) return [];
  if (i.source === 'adopt') {
    return [`--adopt: unmarked namespaces and links whose names and kinds match what this plan makes are taken as this topology's (marked by this apply), unless they hold anything tsnet would not make.`];
  }
  if (i.phase === 'rolled-back') {
    return [
      `The last apply of "${input.topology}" (process ${i.pid}, started ${i.started}) was rolled back before it had marked the objects that an interrupted run before it half made: they are still recognised as this topology's.`,
    ];
  }
  const during = i.phase === 'rollback' ? `during its rollback (after ${i.done.length} of its ${i.steps.length} steps had run)` : `after ${i.done.length} of its ${i.steps.length} steps`;
  return [
    `The last apply of "${input.topology}" (process ${i.pid}, started ${i.started}) was interrupted ${during}; this plan repairs what it left, and the objects it half made are recognised as this topology's.`,
  ];
}

/**
 * What a killed apply was making, per host: found unmarked, it is ours (half-made). Only steps
 * that began to run can have left something: an object named by a step that never started is
 * not ours, whoever made it since. Mark steps are the exception: they were planned for objects
 * already there and already taken as ours (a repair killed before marking them). A killed
 * rollback adds what the undo commands that began make again (a namespace or link the run had
 * deleted, not yet marked); and what the run had itself taken over from an earlier one stays
 * taken until marked.
 */
function adoptionsOf(interrupted: Interrupted | undefined): Map<string, Adoption> {
  const adoptions = new Map<string, Adoption>();
  if (!interrupted) return adoptions;
  const of = (host: string) => {
    const a: Adoption = adoptions.get(host) ?? { namespaces: new Map(), links: new Map() };
    adoptions.set(host, a);
    return a;
  };
  const since = interrupted.started;
  const ran = new Set([...interrupted.begun, ...interrupted.done]);
  const undone = new Set(interrupted.undoBegun ?? []);
  for (const step of interrupted.steps) {
    if (ran.has(step.id) || step.marks.length) adoptFrom(step, of(step.host), since);
    if (!undone.has(step.id)) continue;
    for (const o of interrupted.undoCreates?.get(step.id) ?? []) adoptObject(o, o.mark ?? step.address, of(o.host), since);
  }
  for (const a of interrupted.adopted ?? []) adoptObject(a.object, a.mark, of(a.object.host), a.since, { earlier: true });
  for (const [host, max] of Object.entries(interrupted.ifindexes ?? {})) of(host).ifindexMax = new Map(Object.entries(max));
  return adoptions;
}

/** The objects the views took over (unmarked, from a journal), with since when they can exist. */
function adoptedBy(views: readonly HostView[], adoptions: ReadonlyMap<string, Adoption>, fallback: string | undefined): AdoptedObject[] {
  const out: AdoptedObject[] = [];
  for (const view of views) {
    const since = adoptions.get(view.host)?.since;
    for (const [key, { object, mark }] of view.halfMade) {
      const at = since?.get(key) ?? fallback;
      if (at !== undefined) out.push({ object, mark, since: at });
    }
  }
  return out;
}

/**
 * Which host an owned namespace belongs to. Several netns hosts share one machine's
 * namespaces; a namespace the topology no longer names belongs to the host that holds the host
 * ends of its endpoints: that host deletes it.
 */
function ownership(input: PlanInput): (host: string) => (sandboxAddress: string) => boolean {
  const machineOf = (h: string) => input.machines?.get(h) ?? h;
  const desiredHostOf = new Map<string, string>();
  for (const [host, specs] of input.desired) for (const s of specs.values()) if (s.kind === 'sandbox') desiredHostOf.set(s.address, host);
  const formerHost = new Map<string, string>();
  for (const host of input.hosts) {
    for (const link of input.live.hosts.get(host)?.root.links ?? []) {
      const mark = parseMark(link.alias);
      // A link of an endpoint in the host's own stack (a veth's host end).
      if (mark?.topology !== input.topology || !mark.address.startsWith('endpoint.')) continue;
      const sandbox = `sandbox.${mark.address.split('.')[1]}`;
      if (!formerHost.has(sandbox)) formerHost.set(sandbox, host);
    }
  }
  return (host) => {
    const firstOnMachine = input.hosts.find((h) => machineOf(h) === machineOf(host));
    return (sandboxAddress) => {
      const dh = desiredHostOf.get(sandboxAddress) ?? formerHost.get(sandboxAddress);
      if (dh === undefined) return firstOnMachine === host;
      return dh === host || machineOf(dh) !== machineOf(host);
    };
  };
}

/** The sandbox a step's resource belongs to ("web" for sandbox.web, endpoint.web.eth0, route.web.default). */
function sandboxOfAddress(address: string): string | undefined {
  const dot = address.indexOf('.');
  const kind = address.slice(0, dot);
  if (kind !== 'sandbox' && kind !== 'endpoint' && kind !== 'route') return undefined;
  const next = address.indexOf('.', dot + 1);
  return next < 0 ? address.slice(dot + 1) : address.slice(dot + 1, next);
}

/** The steps a relation stands for, per host and sandbox: found once, looked up per dependency. */
class RelationIndex {
  private readonly endpointSteps = new Map<string, Map<string, string[]>>();
  private readonly routeDeletes = new Map<string, Map<string, string[]>>();
  private readonly portDeletes = new Map<string, string[]>();

  constructor(steps: readonly Step[]) {
    for (const o of steps) {
      const kind = o.address.slice(0, o.address.indexOf('.'));
      if ((kind === 'sandbox' || kind === 'endpoint') && o.isDeletion) push(this.portDeletes, o.host, o.id);
      else if (kind === 'endpoint') this.add(this.endpointSteps, o);
      else if (kind === 'route' && o.isDeletion) this.add(this.routeDeletes, o);
    }
  }

  private add(m: Map<string, Map<string, string[]>>, o: Step): void {
    let byHost = m.get(o.host);
    if (!byHost) m.set(o.host, (byHost = new Map()));
    push(byHost, sandboxOfAddress(o.address)!, o.id);
  }

  resolve(host: string, r: Relation): readonly string[] {
    if (r.rel === 'port-deletions') return this.portDeletes.get(host) ?? NONE;
    return (r.rel === 'endpoints-of' ? this.endpointSteps : this.routeDeletes).get(host)?.get(r.sandbox) ?? NONE;
  }
}

const NONE: readonly string[] = [];

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** A step's resolved dependencies: in order, each once (a set only when there are many). */
class After {
  private readonly list: string[] = [];
  private set?: Set<string>;
  constructor(private readonly self: string) {}
  add(id: string): void {
    if (id === this.self) return;
    if (this.set) {
      if (this.set.has(id)) return;
      this.set.add(id);
    } else if (this.list.includes(id)) return;
    else if (this.list.length >= 16) this.set = new Set(this.list).add(id);
    this.list.push(id);
  }
  get ids(): string[] {
    return this.list;
  }
}

/**
 * Turns each step's dependencies into step ids: another step by its identity, or a relation
 * (see Relation in host-plan.ts) resolved to the steps it stands for. Dependencies on steps
 * that are not in the plan are dropped. Deletions as a whole run before everything else (names
 * are freed first): orderSteps and the executor keep that barrier, so it needs no edges.
 */
function resolveDependencies(steps: readonly Step[], hosts: readonly HostPlan[]): void {
  // Each id maps to the step's own string: the dependencies hold that one (ordering looks them up).
  const ids = new Map<string, string>();
  for (const s of steps) ids.set(s.id, s.id);
  const relations = new RelationIndex(steps);
  for (const h of hosts) {
    for (const s of h.steps()) {
      const deps = h.deps.get(s.id);
      if (!deps) continue;
      const after = new After(s.id);
      for (const dep of deps) {
        if ('rel' in dep) {
          for (const id of relations.resolve(s.host, dep)) after.add(id);
          continue;
        }
        const id = ids.get(keyOfStep(dep.host ?? s.host, dep.address, dep.phase));
        if (id !== undefined) after.add(id);
      }
      s.after = after.ids;
    }
  }
}

/**
 * A topological order: deletions first, then the rest (see compare), in the appliers' order where the
 * dependencies leave it free (Kahn's algorithm with a heap on the original position).
 */
export function orderSteps(steps: Step[]): Step[] {
  const index = new Map(steps.map((s, i) => [s.id, i]));
  // Deletions first; then what no sandbox owns (networks), then sandbox by sandbox, so that a
  // host batch cut into chunks holds whole sandboxes (the executor starts each sandbox's own
  // batch as soon as its chunk is done).
  const keys = steps.map((st, i) => ({ deletion: st.isDeletion, sandbox: sandboxOfAddress(st.address) ?? '', i }));
  const compare = (a: number, b: number) => {
    const x = keys[a]!;
    const y = keys[b]!;
    if (x.deletion !== y.deletion) return x.deletion ? -1 : 1;
    if (!x.deletion && x.sandbox !== y.sandbox) return x.sandbox < y.sandbox ? -1 : 1;
    return x.i - y.i;
  };
  const indegree = new Array<number>(steps.length).fill(0);
  const dependents: number[][] = steps.map(() => []);
  steps.forEach((s, i) => {
    for (const d of s.after) {
      const j = index.get(d);
      if (j === undefined) continue;
      indegree[i]!++;
      dependents[j]!.push(i);
    }
  });
  const heap = new MinHeap(compare);
  indegree.forEach((d, i) => d === 0 && heap.push(i));
  const out: Step[] = [];
  while (heap.size) {
    const i = heap.pop()!;
    out.push(steps[i]!);
    for (const n of dependents[i]!) if (--indegree[n]! === 0) heap.push(n);
  }
  if (out.length !== steps.length) throw new Error("internal: the plan's steps depend on each other in a cycle");
  return out;
}

class MinHeap<T> {
  private items: T[] = [];
  constructor(private readonly cmp: (a: T, b: T) => number) {}
  get size(): number {
    return this.items.length;
  }
  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.cmp(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
