// plan(desired, actual): pure. No I/O, no clock. Each host's resources are compared one by one
// by the applier of their kind; the steps they return are then ordered into a DAG:
// namespaces -> bridges -> veth pairs -> addresses -> routes to create, the reverse to destroy.
import { HostView, PEER_SUFFIX, Sink, adoptFrom, linkRef, netnsRef, type Adoption, type Context, type Dep } from '../appliers/common.js';
import { planBridge } from '../appliers/bridge.js';
import { planEndpoint } from '../appliers/endpoint.js';
import { planNatHost } from '../appliers/nat.js';
import { planSandbox } from '../appliers/namespace.js';
import { planOverlay, overlayAddresses } from '../appliers/overlay.js';
import { keepForeignRoutes, observeRoutes, planRoute } from '../appliers/route.js';
import { natTableName } from '../state/nft.js';
import { markText, parseMark } from '../state/ownership.js';
import type { LiveState } from '../state/types.js';
import type { BridgeSpec, Desired, EndpointSpec, OverlaySpec, RouteSpec, SandboxSpec, Spec } from './desired.js';
import { stepKey, type Change, type Interrupted, type Plan, type ResourceKind, type Step } from './types.js';

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
}

const KIND_ORDER: Record<ResourceKind, number> = { sandbox: 0, network: 1, nat: 2, endpoint: 3, route: 4 };

export function plan(input: PlanInput): Plan {
  const sink = new Sink();
  const machineOf = (h: string) => input.machines?.get(h) ?? h;
  const desiredHostOf = new Map<string, string>();
  for (const [host, specs] of input.desired) for (const s of specs.values()) if (s.kind === 'sandbox') desiredHostOf.set(s.address, host);

  // A namespace the topology no longer names belongs to the host that holds the host ends of
  // its endpoints (several netns hosts share one machine's namespaces): that host deletes it.
  const formerHost = new Map<string, string>();
  for (const host of input.hosts) {
    for (const link of input.live.hosts.get(host)?.root.links ?? []) {
      const mark = parseMark(link.alias);
      if (mark?.topology !== input.topology || !mark.address.startsWith('endpoint.') || !mark.address.endsWith(PEER_SUFFIX)) continue;
      const sandbox = `sandbox.${mark.address.split('.')[1]}`;
      if (!formerHost.has(sandbox)) formerHost.set(sandbox, host);
    }
  }
  const formerHostOf = (sandboxAddress: string) => formerHost.get(sandboxAddress);

  // What a killed apply was making, per host: found unmarked, it is ours (half-made).
  const adoptions = new Map<string, Adoption>();
  // Only steps that began to run can have left something: an object named by a step that never
  // started is not ours, whoever made it since. Mark steps are the exception: they were planned
  // for objects already there and already taken as ours (a repair killed before marking them).
  const ran = new Set([...(input.interrupted?.begun ?? []), ...(input.interrupted?.done ?? [])]);
  for (const step of input.interrupted?.steps ?? []) {
    if (!ran.has(step.id) && !step.marks.length) continue;
    const a = adoptions.get(step.host) ?? { namespaces: new Map(), links: new Map() };
    adoptFrom(step, a);
    adoptions.set(step.host, a);
  }

  for (const host of input.hosts) {
    const state = input.live.hosts.get(host);
    const desired = input.desired.get(host) ?? new Map<string, Spec>();
    if (!state) {
      sink.error(host, `host.${host}`, `the state of host "${host}" was not read`);
      continue;
    }
    const firstOnMachine = input.hosts.find((h) => machineOf(h) === machineOf(host));
    const belongs = (sandboxAddress: string) => {
      const dh = desiredHostOf.get(sandboxAddress) ?? formerHostOf(sandboxAddress);
      if (dh === undefined) return firstOnMachine === host;
      return dh === host || machineOf(dh) !== machineOf(host);
    };
    const view = new HostView(input.topology, state, belongs, adoptions.get(host));
    const ctx: Context = { topology: input.topology, host, view, desired, sink, dyingNs: new Map(), dyingLinks: new Map(), newNs: new Map(), flushedLinks: new Map() };
    planHost(ctx);
    markHalfMade(ctx, input.interrupted);
  }
  resolveDependencies(sink.steps, sink.deps);

  const hostIndex = new Map(input.hosts.map((h, i) => [h, i]));
  const changes = sink.changes.sort(
    (a: Change, b: Change) =>
      (hostIndex.get(a.host) ?? 0) - (hostIndex.get(b.host) ?? 0) ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      a.address.localeCompare(b.address),
  );
  const notes: string[] = [];
  if (input.interrupted) {
    const i = input.interrupted;
    notes.push(
      `The last apply of "${input.topology}" (process ${i.pid}, started ${i.started}) was interrupted after ${i.done.length} of its ${i.steps.length} steps; this plan repairs what it left, and the objects it half made are recognised as this topology's.`,
    );
  }
  notes.push(...sink.notes);
  return {
    ...(notes.length ? { notes } : {}),
    topology: input.topology,
    changes,
    steps: orderSteps(sink.steps),
    errors: sink.errors,
    hosts: [...input.hosts],
    implicitHost: input.implicitHost,
  };
}

/**
 * Half-made objects that stay (nothing in the plan deletes them) get their ownership mark, and
 * their resource's change says why.
 */
function markHalfMade(ctx: Context, interrupted: Interrupted | undefined): void {
  if (!interrupted || !ctx.view.halfMade.size) return;
  const { host, sink } = ctx;
  const reason = `left half-made by the interrupted apply (process ${interrupted.pid}): marked as this topology's`;
  const deleted = (base: string) => sink.has({ host, address: base, phase: 'delete' });
  const changeOf = new Map(sink.changes.filter((c) => c.host === host).map((c) => [c.address, c]));
  const explain = (base: string, kind: Change['kind'], summary: string) => {
    const change = changeOf.get(base);
    if (change) {
      if (!change.reasons.includes(reason)) change.reasons.push(reason); // once for both ends of a veth
    } else {
      sink.change(host, base, kind, 'update', summary, [reason]);
      changeOf.set(base, sink.changes[sink.changes.length - 1]!);
    }
  };
  for (const [key, address] of ctx.view.halfMade) {
    const base = address.replace(/\/(peer|vxlan)$/, '');
    if (key.startsWith('ns:')) {
      const ns = key.slice(3);
      if (ctx.dyingNs.has(ns) || deleted(base)) continue;
      sink.step(host, base, {
        phase: 'mark',
        ns,
        action: 'update',
        description: `mark namespace ${ns} as tsnet's`,
        do: [['link', 'set', 'lo', 'alias', markText(ctx.topology, address)]],
        marks: [netnsRef(host, ns, address)],
        undo: [],
      });
      explain(base, 'sandbox', `namespace ${ns}`);
      continue;
    }
    const slash = key.indexOf('/');
    const ns = key.slice(0, slash) || null;
    const ifname = key.slice(slash + 1);
    if ((ns && ctx.dyingNs.has(ns)) || ctx.dyingLinks.has(key) || deleted(base)) continue;
    sink.step(host, base, {
      phase: `mark-${ifname}`,
      ns,
      action: 'update',
      description: `mark ${ns ? `${ns}/` : ''}${ifname} as tsnet's`,
      do: [['link', 'set', ifname, 'alias', markText(ctx.topology, address)]],
      marks: [linkRef(host, ns, ifname, { mark: address })],
      undo: [],
    });
    explain(base, base.startsWith('network.') ? 'network' : 'endpoint', `${ns ? `${ns}/` : ''}${ifname}`);
  }
}

function planHost(ctx: Context): void {
  const { desired, view } = ctx;
  const addresses = (prefix: string, observed: Iterable<string>) =>
    [...new Set([...[...desired.keys()].filter((a) => a.startsWith(prefix)), ...[...observed].filter((a) => a.startsWith(prefix))])].sort();

  for (const a of addresses('sandbox.', view.ownedNs.keys())) planSandbox(ctx, a, desired.get(a) as SandboxSpec | undefined);

  const ownedLinkAddresses = [...view.ownedLinks.keys()];
  for (const a of addresses('network.', ownedLinkAddresses.map(overlayAddresses))) {
    const want = desired.get(a) as BridgeSpec | OverlaySpec | undefined;
    const isOverlay = want ? want.type === 'overlay' : view.ownedLinks.has(`${a}/vxlan`);
    if (isOverlay) planOverlay(ctx, a, want as OverlaySpec | undefined);
    else planBridge(ctx, a, want as BridgeSpec | undefined);
  }

  const endpointAddresses = ownedLinkAddresses.map((a) => (a.endsWith(PEER_SUFFIX) ? a.slice(0, -PEER_SUFFIX.length) : a));
  for (const a of addresses('endpoint.', endpointAddresses)) planEndpoint(ctx, a, desired.get(a) as EndpointSpec | undefined);

  const observed = observeRoutes(ctx);
  for (const a of addresses('route.', observed.keys())) planRoute(ctx, a, desired.get(a) as RouteSpec | undefined, observed.get(a));
  keepForeignRoutes(ctx);

  planNatHost(ctx, natTableName(ctx.topology));
}

/** The sandbox a step's resource belongs to ("web" for sandbox.web, endpoint.web.eth0, route.web.default). */
const sandboxOfAddress = (address: string): string | undefined => (/^(sandbox|endpoint|route)\./.test(address) ? address.split('.')[1] : undefined);

/**
 * Turns each step's dependencies into step ids: another step by its identity, or a relation
 * (see Relation in appliers/common.ts) resolved to the steps it stands for. Dependencies on
 * steps that are not in the plan are dropped. Deletions as a whole run before everything else
 * (names are freed first): orderSteps and the executor keep that barrier, so it needs no edges.
 */
function resolveDependencies(steps: Step[], deps: ReadonlyMap<string, Dep[]>): void {
  const ids = new Set(steps.map((s) => s.id));
  const endpointSteps = new Map<string, string[]>();
  const routeDeletes = new Map<string, string[]>();
  const portDeletes = new Map<string, string[]>();
  const push = (m: Map<string, string[]>, k: string, v: string) => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  for (const o of steps) {
    const key = `${o.host}\u0000${sandboxOfAddress(o.address) ?? ''}`;
    if (o.address.startsWith('sandbox.') && o.isDeletion) push(portDeletes, o.host, o.id);
    else if (o.address.startsWith('endpoint.')) {
      if (o.isDeletion) push(portDeletes, o.host, o.id);
      else push(endpointSteps, key, o.id);
    } else if (o.address.startsWith('route.') && o.isDeletion) push(routeDeletes, key, o.id);
  }
  for (const s of steps) {
    const after = new Set<string>();
    for (const dep of deps.get(s.id) ?? []) {
      if (!('rel' in dep)) {
        const id = stepKey({ host: dep.host ?? s.host, address: dep.address, phase: dep.phase });
        if (ids.has(id)) after.add(id);
        continue;
      }
      const ofSandbox = (m: Map<string, string[]>, sandbox: string) => m.get(`${s.host}\u0000${sandbox}`) ?? [];
      const resolved = dep.rel === 'endpoints-of' ? ofSandbox(endpointSteps, dep.sandbox) : dep.rel === 'route-deletions-of' ? ofSandbox(routeDeletes, dep.sandbox) : (portDeletes.get(s.host) ?? []);
      for (const id of resolved) after.add(id);
    }
    after.delete(s.id);
    s.after = [...after];
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
