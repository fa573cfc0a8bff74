// Routes inside a sandbox, marked by their protocol number (ROUTE_PROTO): the automatic default
// route via the network's gateway, and the routes the file lists.
import type { RouteSpec } from '../planner/desired.js';
import type { ObjectRef } from '../planner/types.js';
import type { KRoute } from '../state/types.js';
import type { Dep, ResourcePlan } from '../planner/host-plan.js';
import type { Command } from '../planner/types.js';
import { ROUTE_PROTO, cmd, sandboxOf } from './common.js';
import type { DropCause, PlanContext, ResourceApplier, Upstream } from './types.js';

/** ip's name for the destination: IPv6 default is spelled ::/0 so ip knows the family. */
const dst = (s: { to: string; family: 4 | 6 }) => (s.to === 'default' ? (s.family === 4 ? 'default' : '::/0') : s.to);

/**
 * The next hop in ip's words: `via` the gateway; for an observed route without one (a route
 * with tsnet's protocol made by hand on a link) `dev` its interface.
 */
const nexthop = (s: RouteSpec): string[] => (s.via ? ['via', s.via] : s.dev ? ['dev', s.dev] : []);

const routeAddLine = (s: RouteSpec): string[] => ['route', 'add', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO];
const routeDelLine = (s: RouteSpec): string[] => ['route', 'del', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO];

/** A route as an object of a step. */
const routeRef = (ctx: PlanContext, s: RouteSpec): ObjectRef => ({ kind: 'route', host: ctx.host, ns: s.netns, name: dst(s), ...(s.dev ? { dev: s.dev } : {}) });

/** The address a route resource has, from what the kernel shows. */
function routeAddress(sandbox: string, r: KRoute): string {
  if (r.dst === 'default') return `route.${sandbox}.${r.family === 4 ? 'default' : 'default-ipv6'}`;
  return `route.${sandbox}.${r.dst}`;
}

/** Owned routes of this host, as specs, keyed by address. */
function observeRoutes(ctx: PlanContext): Map<string, RouteSpec> {
  const out = new Map<string, RouteSpec>();
  for (const [ns, routes] of ctx.view.ownedRoutes) {
    const sandbox = ctx.view.nsAddress.get(ns)!.slice('sandbox.'.length);
    for (const r of routes) {
      const address = routeAddress(sandbox, r);
      out.set(address, { kind: 'route', host: ctx.host, address, netns: ns, to: r.dst, via: r.gateway ?? '', family: r.family, ...(r.dev ? { dev: r.dev } : {}) });
    }
  }
  return out;
}

/**
 * Commands that put a route back (in an undo): `route replace`, which succeeds whether or not
 * the kernel dropped the route meanwhile (a failed step may have stopped before the line that
 * would have dropped it).
 */
function routeRestoreCommands(ctx: PlanContext, s: RouteSpec) {
  return [cmd(ctx.host, s.netns, ['route', 'replace', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO])];
}

const summary = (s: RouteSpec) => `${s.to} ${nexthop(s).join(' ')} in ${s.netns}`;

const describeRoute = (r: KRoute) =>
  [r.dst, ...(r.gateway ? ['via', r.gateway] : []), ...(r.dev ? ['dev', r.dev] : []), ...(r.protocol ? ['proto', r.protocol] : [])].join(' ');

/** Routes tsnet did not make (by hand, or the kernel's own) that hold the destination `s` wants: `route add` would fail with "File exists". */
const foreignRoutes = (ctx: PlanContext, s: RouteSpec): readonly KRoute[] =>
  ctx.view.namespace(s.netns)?.routes.filter((r) => r.protocol !== ROUTE_PROTO && r.family === s.family && r.dst === s.to) ?? NONE;

const NONE: readonly KRoute[] = [];

/** A route waits for its namespace and the interfaces of its sandbox. */
const afterRoute = (address: string): Dep[] => {
  const sandbox = sandboxOf(address);
  return [{ address: `sandbox.${sandbox}`, phase: 'config' }, { rel: 'endpoints-of', sandbox }];
};

function deleteRoute(ctx: PlanContext, r: ResourcePlan, have: RouteSpec, action: 'delete' | 'replace'): void {
  r.step({
    phase: 'delete',
    ns: have.netns,
    action,
    deletion: true,
    description: `delete route ${summary(have)}`,
    do: [routeDelLine(have)],
    deletes: [routeRef(ctx, have)],
    undo: routeRestoreCommands(ctx, have),
  });
}

/** Adds the route; `replacing` when an old one goes first (or went along with something else). */
function addRoute(ctx: PlanContext, r: ResourcePlan, want: RouteSpec, opts: { replacing: boolean; afterOwnDeletion: boolean }): void {
  const after = afterRoute(r.address);
  if (opts.afterOwnDeletion) after.push({ address: r.address, phase: 'delete' });
  r.step({
    phase: 'create',
    ns: want.netns,
    action: opts.replacing ? 'replace' : 'create',
    description: `add route ${summary(want)}`,
    do: [routeAddLine(want)],
    creates: [routeRef(ctx, want)],
    undo: [cmd(ctx.host, want.netns, routeDelLine(want))],
    after,
  });
}

/** Foreign routes on the destination: an error unless this plan takes them away first. */
function checkDestination(ctx: PlanContext, r: ResourcePlan, want: RouteSpec): void {
  for (const taken of foreignRoutes(ctx, want)) {
    r.clash({
      want: routeRef(ctx, want),
      holder: { kind: 'route', host: ctx.host, ns: want.netns, name: taken.dst, ...(taken.dev ? { dev: taken.dev } : {}) },
      message: `cannot add route ${summary(want)}: the destination is taken by a route tsnet did not make (${describeRoute(taken)})`,
    });
  }
}

/**
 * The route goes along with another step (its interface deleted, or flushed): that step's undo
 * puts it back (see the passes); a route still wanted is made again after the new interface or
 * addresses.
 */
function planDropped(ctx: PlanContext, r: ResourcePlan, want: RouteSpec | undefined, have: RouteSpec, cause: DropCause): void {
  if (!want) {
    r.setChange('delete', summary(have), ['not in the topology any more']);
    return;
  }
  if (cause.by === 'flush') {
    r.step({
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `add route ${summary(want)} (dropped with the old addresses)`,
      do: [routeAddLine(want)],
      undo: [cmd(ctx.host, want.netns, routeDelLine(want))],
      after: afterRoute(r.address),
    });
    const reasons = have.via !== want.via ? [`via ${have.via} -> ${want.via}`] : [];
    reasons.push(`the kernel drops it when ${cause.dev} loses its last IPv4 address: added again`);
    r.setChange('update', summary(want), reasons);
    return;
  }
  addRoute(ctx, r, want, { replacing: true, afterOwnDeletion: false });
  const reasons = cause.removed
    ? [...(have.via !== want.via ? [`via ${have.via} -> ${want.via}`] : []), `its interface ${cause.dev} is removed (forces replacement)`]
    : [`its interface ${cause.dev} is replaced (forces replacement)`];
  r.setChange('replace', summary(want), reasons);
}

function planRoute(ctx: PlanContext, r: ResourcePlan, wanted: RouteSpec | undefined, have: RouteSpec | undefined, upstream?: Upstream): void {
  // A suspended route is not wanted now; the kernel dropped it with its link, or it goes first.
  const want = wanted?.suspended ? undefined : wanted;
  if (have) {
    r.have = have;
    r.inNamespace = have.netns;
    r.restore = () => routeRestoreCommands(ctx, have);
  }
  if (have && upstream?.kind === 'dropped') return planDropped(ctx, r, want, have, upstream.cause);
  if (have && !want) {
    deleteRoute(ctx, r, have, 'delete');
    r.setChange('delete', summary(have), [wanted?.suspended ?? 'not in the topology any more']);
    return;
  }
  if (!want) return;
  if (!have || have.netns !== want.netns || upstream?.kind === 'namespace-replaced') {
    if (have) deleteRoute(ctx, r, have, 'replace');
    checkDestination(ctx, r, want);
    addRoute(ctx, r, want, { replacing: have !== undefined, afterOwnDeletion: have !== undefined });
    r.setChange(have ? 'replace' : 'create', summary(want), have ? [`namespace ${have.netns} -> ${want.netns} (forces replacement)`] : []);
    return;
  }
  if (have.via !== want.via) {
    r.step({
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `change route ${summary(want)}`,
      do: [['route', 'replace', dst(want), ...nexthop(want), 'proto', ROUTE_PROTO]],
      undo: [cmd(ctx.host, want.netns, ['route', 'replace', dst(have), ...nexthop(have), 'proto', ROUTE_PROTO])],
      after: afterRoute(r.address),
    });
    r.setChange('update', summary(want), [`via ${have.via} -> ${want.via}`]);
  }
}

/** The owned routes of a host, read once per plan. */
const observedOf = new WeakMap<PlanContext, Map<string, RouteSpec>>();
const observed = (ctx: PlanContext): Map<string, RouteSpec> => {
  let m = observedOf.get(ctx);
  if (!m) observedOf.set(ctx, (m = observeRoutes(ctx)));
  return m;
};

export const routes: ResourceApplier = {
  kind: 'route',
  planHost(ctx, out) {
    const have = observed(ctx);
    const addresses = new Set(have.keys());
    for (const s of ctx.desired.values()) if (s.kind === 'route') addresses.add(s.address);
    for (const address of [...addresses].sort()) {
      const r = out.resource(address, 'route');
      const want = ctx.desired.get(address) as RouteSpec | undefined;
      if (want && !want.suspended) r.want = want;
      planRoute(ctx, r, want, have.get(address));
    }
  },
  replan(ctx, out, address, upstream) {
    const r = out.reset(address);
    planRoute(ctx, r, r.want as RouteSpec | undefined, observed(ctx).get(address), upstream);
  },
};

/**
 * A route tsnet did not make (a user's, in a sandbox tsnet owns) that the kernel drops with a
 * link this plan deletes or flushes: what puts it back exactly (for that step's undo), and the
 * plan's note. tsnet does not add it again.
 */
export function foreignRouteKept(ctx: PlanContext, sandbox: string, ns: string, r: KRoute, by: 'deletion' | 'last IPv4 address'): { restore: Command[]; note: string } {
  // As it was: next hop, interface, protocol, metric, source, scope, onlink.
  const line = [
    'route',
    'replace',
    dst({ to: r.dst, family: r.family }),
    ...(r.gateway ? ['via', r.gateway] : []),
    'dev',
    r.dev!,
    ...(r.protocol ? ['proto', r.protocol] : []),
    ...(r.metric !== undefined ? ['metric', String(r.metric)] : []),
    ...(r.prefsrc ? ['src', r.prefsrc] : []),
    ...(r.scope && r.scope !== 'global' && r.scope !== 'universe' ? ['scope', r.scope] : []),
    ...(r.onlink ? ['onlink'] : []),
  ];
  return {
    restore: [cmd(ctx.host, ns, line)],
    note: `${sandbox}: the route ${describeRoute(r)} in ${ns} is not tsnet's; the kernel drops it with ${r.dev}'s ${by}, and tsnet does not add it again (a failed apply puts it back).`,
  };
}

/** Routes of a namespace tsnet did not make, on an interface: what the kernel drops with it. */
export const foreignRoutesOn = (ns: { routes: readonly KRoute[] }): KRoute[] => ns.routes.filter((r) => r.dev && r.protocol !== ROUTE_PROTO && r.protocol !== 'kernel');
