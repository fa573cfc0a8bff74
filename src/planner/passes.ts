// Passes over one host's plan, after every applier has spoken (as terraform's graph
// transformers run over its graph): each works out one kind of consequence that the steps of
// one resource have for another, from the objects the steps create and delete. Appliers never
// edit each other's steps; where a resource must be planned differently because of another's
// steps, the pass asks its applier to plan it again, saying what happens to it first.
import type { PlanContext, ResourceApplier, Upstream } from '../appliers/types.js';
import { markResource } from '../appliers/common.js';
import { foreignRouteKept, foreignRoutesOn } from '../appliers/route.js';
import { linksTakeTheirQdiscs, shapingReadsAsEndpoint } from '../appliers/qdisc.js';
import type { RouteSpec } from './desired.js';
import type { HostPlan, ResourcePlan } from './host-plan.js';
import { markText } from '../state/ownership.js';
import type { Interrupted, ResourceKind, Step } from './types.js';

export interface PassInput {
  ctx: PlanContext;
  out: HostPlan;
  appliers: ReadonlyMap<ResourceKind, ResourceApplier>;
  interrupted?: Interrupted;
}

export type Pass = (p: PassInput) => void;

const key = (kind: string, ns: string | null, name: string) => `${kind}\u0000${ns ?? ''}\u0000${name}`;

function replan(p: PassInput, r: ResourcePlan, upstream: Upstream): ResourcePlan {
  p.appliers.get(r.kind)?.replan?.(p.ctx, p.out, r.address, upstream);
  return p.out.get(r.address)!;
}

const settled = (r: ResourcePlan) => r.change?.action === 'create' || r.change?.action === 'replace' || r.change?.action === 'delete';

/**
 * A namespace deleted and made again takes everything in it: its endpoints and routes that are
 * still wanted are replaced, not changed in place.
 */
export const namespaceReplacedReplacesContents: Pass = (p) => {
  if (!p.out.deletes) return;
  const dying = p.out.deletions().namespaces;
  if (!dying.size) return;
  for (const r of p.out.resources()) {
    if (!r.want || settled(r) || r.inNamespace === undefined || !dying.has(r.inNamespace)) continue;
    replan(p, r, { kind: 'namespace-replaced', ns: r.inNamespace });
  }
};

/**
 * A bridge that goes takes its ports off it: each port that stays is planned knowing it is
 * taken off (it goes back on the bridge made again), and the bridge's deletion puts it back on
 * the old one if the apply is undone.
 */
export const bridgeTakesItsPorts: Pass = (p) => {
  if (!p.out.deletes) return;
  const bridges = p.out.steps().filter((s) => s.isDeletion && s.deletes.some((o) => o.kind === 'link' && o.ns === null));
  if (!bridges.length) return;
  // Ports of resources that stay (what goes takes its port along).
  const portsOf = new Map<string, string[]>();
  for (const [address, links] of p.ctx.view.ownedLinks) {
    for (const l of links) {
      if (l.ns !== null || !l.master || !p.out.get(markResource(address))?.want) continue;
      const list = portsOf.get(l.master);
      if (list) list.push(markResource(address));
      else portsOf.set(l.master, [markResource(address)]);
    }
  }
  for (const taker of bridges) {
    const ports = taker.deletes.filter((o) => o.kind === 'link' && o.ns === null).flatMap((o) => (portsOf.get(o.name) ?? []).map((address) => ({ address, master: o.name })));
    for (const port of ports.sort((a, b) => (a.address < b.address ? -1 : 1))) {
      const r = p.out.get(port.address);
      if (!r?.want || port.address === taker.address || settled(r)) continue;
      const again = replan(p, r, { kind: 'detached', master: port.master });
      taker.undo.push(...again.reattach);
    }
  }
};

/**
 * A namespace that goes takes its links: their deletions fold into its own (its undo rebuilds
 * them), or run before it where the namespace outlives its name (processes hold it) or where
 * the plan makes a link of the same name in the host's stack at once (the kernel frees a
 * deleted namespace's veths only later).
 */
export const namespaceTakesItsLinks: Pass = (p) => {
  if (!p.out.deletes) return;
  const dying = p.out.deletions().namespaces;
  if (!dying.size) return;
  const madeInHost = new Set<string>();
  const inside = new Map<string, Step[]>();
  for (const s of p.out.steps()) {
    for (const o of s.creates) if (o.kind === 'link' && o.ns === null) madeInHost.add(o.name);
    if (!s.isDeletion) continue;
    const ns = s.deletes.find((o) => o.kind === 'link' && o.ns !== null && dying.has(o.ns))?.ns;
    if (ns && dying.get(ns) !== s) inside.set(ns, [...(inside.get(ns) ?? []), s]);
  }
  for (const [ns, steps] of inside) {
    const taker = dying.get(ns)!;
    const held = (p.ctx.view.namespace(ns)?.inUse?.length ?? 0) > 0;
    for (const s of steps) {
      const remade = s.deletes.some((o) => o.kind === 'link' && o.ns === null && madeInHost.has(o.name));
      if (held || remade) {
        p.out.addDep(taker, { address: s.address, phase: s.phase });
        continue;
      }
      p.out.fold(s, taker);
    }
  }
};

/** Links in the host's namespaces that lose their last IPv4 address, each with the step that removes it. */
function flushes(p: PassInput): Map<string, Step> {
  const m = new Map<string, Step>();
  for (const s of p.out.steps()) {
    if (!s.deletes.length) continue;
    const removed = new Map<string, { ns: string | null; dev: string; cidrs: Set<string> }>();
    for (const o of s.deletes) {
      if (o.kind !== 'addr' || !o.dev) continue;
      const k = key('link', o.ns, o.dev);
      const entry = removed.get(k) ?? { ns: o.ns, dev: o.dev, cidrs: new Set<string>() };
      entry.cidrs.add(o.name);
      removed.set(k, entry);
    }
    for (const [k, { ns, dev, cidrs }] of removed) {
      const ipv4 = p.ctx.view.link(ns, dev)?.addresses.filter((a) => a.family === 4) ?? [];
      if (ipv4.length && ipv4.every((a) => cidrs.has(a.cidr))) m.set(k, s);
    }
  }
  return m;
}

/**
 * A link that goes, or loses its last IPv4 address, takes its routes: the route's own deletion
 * is not needed (a route still wanted is added again after the new link or addresses), and the
 * step that takes it puts it back if the apply is undone. The same for routes tsnet did not
 * make, which it does not add again (the plan says so).
 */
export const linksTakeTheirRoutes: Pass = (p) => {
  if (!p.out.deletes) return;
  const gone = p.out.deletions();
  const flushed = flushes(p);
  if (gone.empty && !flushed.size) return;
  for (const r of p.out.resources()) {
    if (r.kind !== 'route' || !r.have) continue;
    const have = r.have as RouteSpec;
    const byLink = have.dev ? gone.link(have.netns, have.dev) : undefined;
    const byNs = gone.namespaces.get(have.netns);
    const flush = have.family === 4 && have.dev && (r.want as RouteSpec | undefined)?.netns === have.netns ? flushed.get(key('link', have.netns, have.dev)) : undefined;
    const taker = byNs ? (byLink ?? byNs) : (byLink ?? flush);
    if (!taker) continue;
    // Its own deletion (the route goes from the file, or to another namespace) is the taker's now.
    const own = r.steps.find((st) => st.isDeletion);
    if (own) {
      p.out.fold(own, taker);
      continue;
    }
    const cause = byLink && !byNs ? { by: 'link' as const, dev: have.dev!, removed: byLink.action === 'delete' } : { by: 'flush' as const, dev: have.dev! };
    const again = replan(p, r, { kind: 'dropped', cause });
    taker.undo.push(...(again.restore?.() ?? []));
  }
  for (const [address, ns] of p.ctx.view.ownedNs) {
    if (gone.namespaces.has(ns.name!)) continue;
    for (const route of foreignRoutesOn(ns)) {
      const byLink = gone.link(ns.name, route.dev!);
      const taker = byLink ?? (route.family === 4 ? flushed.get(key('link', ns.name, route.dev!)) : undefined);
      if (!taker) continue;
      const kept = foreignRouteKept(p.ctx, address, ns.name!, route, byLink ? 'deletion' : 'last IPv4 address');
      taker.undo.push(...kept.restore);
      p.out.note(kept.note, 'route');
    }
  }
};

/**
 * A name a resource wants that something else holds is an error, unless this plan deletes the
 * holder first (deletions run before anything is made), or the object goes into a namespace
 * this plan makes. A resource whose name is taken makes nothing: its change and the steps that
 * would have made it are left out.
 */
export const namesTheyFree: Pass = (p) => {
  if (!p.out.resources().some((r) => r.clashes.length)) return;
  const gone = p.out.deletions();
  const made = new Set(p.out.steps().flatMap((s) => s.creates.filter((o) => o.kind === 'netns').map((o) => o.name)));
  for (const r of p.out.resources()) {
    if (r.errors.length || !r.clashes.length) continue;
    const clash = r.clashes.find((c) => !(c.want.ns !== null && made.has(c.want.ns)) && !gone.takes(c.holder));
    if (!clash) continue;
    r.error(clash.message);
    delete r.change;
    for (const s of r.steps.filter((st) => !st.isDeletion)) {
      r.removeStep(s);
      // A namespace it does not make after all is no new home for later resources' names.
      for (const o of s.creates) if (o.kind === 'netns') made.delete(o.name);
    }
  }
};

/**
 * Half-made objects that stay (nothing in the plan deletes them) get their ownership mark, and
 * their resource's change says why.
 */
export const halfMadeGetMarked: Pass = (p) => {
  const { ctx, out, interrupted } = p;
  if (!interrupted || !ctx.view.halfMade.size) return;
  const reason =
    interrupted.source === 'adopt'
      ? "unmarked, taken over with --adopt: marked as this topology's"
      : `left half-made by the interrupted apply (process ${interrupted.pid}): marked as this topology's`;
  const gone = out.deletions();
  const deletedResource = (address: string) => out.get(address)?.steps.some((s) => s.isDeletion) ?? false;
  for (const { object: o, mark } of ctx.view.halfMade.values()) {
    const base = markResource(mark);
    if (gone.takes(o) || deletedResource(base)) continue;
    const where = o.kind === 'netns' ? `namespace ${o.name}` : `${o.ns ? `${o.ns}/` : ''}${o.name}`;
    out.extraStep(base, {
      phase: o.kind === 'netns' ? 'mark' : `mark-${o.name}`,
      ns: o.kind === 'netns' ? o.name : o.ns,
      action: 'update',
      description: `mark ${where} as tsnet's`,
      do: [['link', 'set', 'dev', o.kind === 'netns' ? 'lo' : o.name, 'alias', markText(ctx.topology, mark)]],
      marks: [{ ...o, mark }],
      undo: [],
    });
    const r = out.resource(base, kindOf(base));
    if (!r.change) r.setChange('update', where, [reason]);
    else if (!r.change.reasons.includes(reason)) r.change.reasons.push(reason); // once for both ends of a veth
  }
};

/** The kind of resource an address names ("endpoint.web.eth0" -> endpoint). */
const kindOf = (address: string): ResourceKind => address.slice(0, address.indexOf('.')) as ResourceKind;

/** The passes, in the order they must run: replacements first, then what deletions take along, then names. */
export const PASSES: readonly Pass[] = [namespaceReplacedReplacesContents, bridgeTakesItsPorts, namespaceTakesItsLinks, linksTakeTheirRoutes, linksTakeTheirQdiscs, namesTheyFree];

/** Runs after the destroy plan's reasons are dropped (the marks' reason stays). */
export const FINAL_PASSES: readonly Pass[] = [halfMadeGetMarked, shapingReadsAsEndpoint];
