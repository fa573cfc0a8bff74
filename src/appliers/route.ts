// Routes inside a sandbox, marked by their protocol number (ROUTE_PROTO): the automatic default
// route via the network's gateway, and the routes the file lists.
import type { RouteSpec } from '../planner/desired.js';
import type { ObjectRef } from '../planner/types.js';
import type { KRoute } from '../state/types.js';
import { ROUTE_PROTO, cmd, type Context, type Dep } from './common.js';

/** ip's name for the destination: IPv6 default is spelled ::/0 so ip knows the family. */
const dst = (s: { to: string; family: 4 | 6 }) => (s.to === 'default' ? (s.family === 4 ? 'default' : '::/0') : s.to);

/**
 * The next hop in ip's words: `via` the gateway; for an observed route without one (a route
 * with tsnet's protocol made by hand on a link) `dev` its interface.
 */
const nexthop = (s: RouteSpec): string[] => (s.via ? ['via', s.via] : s.dev ? ['dev', s.dev] : []);

export const routeAddLine = (s: RouteSpec): string[] => ['route', 'add', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO];
const routeDelLine = (s: RouteSpec): string[] => ['route', 'del', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO];

/** A route as an object of a step. */
const routeRef = (ctx: Context, s: RouteSpec): ObjectRef => ({ kind: 'route', host: ctx.host, ns: s.netns, name: dst(s), ...(s.dev ? { dev: s.dev } : {}) });

/** The address a route resource has, from what the kernel shows. */
export function routeAddress(sandbox: string, r: KRoute): string {
  if (r.dst === 'default') return `route.${sandbox}.${r.family === 4 ? 'default' : 'default-ipv6'}`;
  return `route.${sandbox}.${r.dst}`;
}

/** Owned routes of this host, as specs, keyed by address. */
export function observeRoutes(ctx: Context): Map<string, RouteSpec> {
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
export function routeRestoreCommands(ctx: Context, s: RouteSpec) {
  return [cmd(ctx.host, s.netns, ['route', 'replace', dst(s), ...nexthop(s), 'proto', ROUTE_PROTO])];
}

const summary = (s: RouteSpec) => `${s.to} ${nexthop(s).join(' ')} in ${s.netns}`;

const describeRoute = (r: KRoute) =>
  [r.dst, ...(r.gateway ? ['via', r.gateway] : []), ...(r.dev ? ['dev', r.dev] : []), ...(r.protocol ? ['proto', r.protocol] : [])].join(' ');

/**
 * A route tsnet did not make (by hand, or the kernel's own) that holds the destination `s`
 * wants in a namespace that stays: `route add` would fail with "File exists". Routes on links
 * this plan deletes go with them and do not count.
 */
function foreignRoute(ctx: Context, s: RouteSpec): KRoute | undefined {
  if (ctx.dyingNs.has(s.netns) || ctx.newNs.has(s.netns)) return undefined;
  return ctx.view
    .namespace(s.netns)
    ?.routes.find((r) => r.protocol !== ROUTE_PROTO && r.family === s.family && r.dst === s.to && !(r.dev && ctx.dyingLinks.has(`${s.netns}/${r.dev}`)));
}

/** A route waits for its namespace and the interfaces of its sandbox. */
const afterRoute = (sandboxAddress: string): Dep[] => [{ address: sandboxAddress, phase: 'config' }, { rel: 'endpoints-of', sandbox: sandboxAddress.slice('sandbox.'.length) }];

export function planRoute(ctx: Context, address: string, want: RouteSpec | undefined, observed: RouteSpec | undefined): void {
  const { host, sink } = ctx;
  const sandboxAddress = `sandbox.${address.split('.')[1]}`;
  // A route whose interface this plan deletes goes with it: the link's undo must bring it back,
  // and a route still wanted is made again after the new link.
  const linkDeletion = observed?.dev ? ctx.dyingLinks.get(`${observed.netns}/${observed.dev}`) : undefined;
  if (observed && linkDeletion && !ctx.dyingNs.has(observed.netns)) {
    sink.extendUndo(linkDeletion, routeRestoreCommands(ctx, observed));
    if (want) {
      sink.step(host, address, {
        phase: 'create',
        ns: want.netns,
        action: 'replace',
        description: `add route ${summary(want)}`,
        do: [routeAddLine(want)],
        undo: [cmd(host, want.netns, routeDelLine(want))],
        after: afterRoute(sandboxAddress),
      });
      sink.change(host, address, 'route', 'replace', summary(want), [`its interface ${observed.dev} is replaced (forces replacement)`]);
    } else sink.change(host, address, 'route', 'delete', summary(observed), ['not in the topology any more']);
    return;
  }
  // A route on a link that loses its last IPv4 address is dropped by the kernel with it: that
  // step's undo brings it back, and it is added again (as wanted) after the new addresses.
  const flush = observed?.family === 4 && observed.dev ? ctx.flushedLinks.get(`${observed.netns}/${observed.dev}`) : undefined;
  if (observed && want && flush && observed.netns === want.netns) {
    sink.extendUndo(flush, routeRestoreCommands(ctx, observed));
    sink.step(host, address, {
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `add route ${summary(want)} (dropped with the old addresses)`,
      do: [routeAddLine(want)],
      undo: [cmd(host, want.netns, routeDelLine(want))],
      after: afterRoute(sandboxAddress),
    });
    const reasons = observed.via !== want.via ? [`via ${observed.via} -> ${want.via}`] : [];
    reasons.push(`the kernel drops it when ${observed.dev} loses its last IPv4 address: added again`);
    sink.change(host, address, 'route', 'update', summary(want), reasons);
    return;
  }
  const have = observed;
  if (have && !want) {
    const dying = ctx.dyingNs.get(have.netns);
    if (dying) sink.extendUndo(linkDeletion ?? dying, routeRestoreCommands(ctx, have));
    else
      sink.step(host, address, {
        phase: 'delete',
        ns: have.netns,
        action: 'delete',
        deletion: true,
        description: `delete route ${summary(have)}`,
        deletes: [routeRef(ctx, have)],
        do: [routeDelLine(have)],
        undo: routeRestoreCommands(ctx, have),
      });
    sink.change(host, address, 'route', 'delete', summary(have), ['not in the topology any more']);
    return;
  }
  if (!want) return;
  const after = afterRoute(sandboxAddress);
  if (!have || ctx.dyingNs.has(have.netns) || have.netns !== want.netns) {
    const dying = have ? ctx.dyingNs.get(have.netns) : undefined;
    if (have && dying) sink.extendUndo(linkDeletion ?? dying, routeRestoreCommands(ctx, have));
    else if (have) {
      sink.step(host, address, {
        phase: 'delete',
        ns: have.netns,
        action: 'replace',
        deletion: true,
        description: `delete route ${summary(have)}`,
        do: [routeDelLine(have)],
        deletes: [routeRef(ctx, have)],
        undo: routeRestoreCommands(ctx, have),
      });
    }
    const taken = foreignRoute(ctx, want);
    if (taken) {
      sink.error(host, address, `cannot add route ${summary(want)}: the destination is taken by a route tsnet did not make (${describeRoute(taken)})`);
      return;
    }
    const replacing = have !== undefined;
    sink.step(host, address, {
      phase: 'create',
      ns: want.netns,
      action: replacing ? 'replace' : 'create',
      description: `add route ${summary(want)}`,
      do: [routeAddLine(want)],
      undo: [cmd(host, want.netns, routeDelLine(want))],
      after: [...after, ...(replacing ? [{ address, phase: 'delete' }] : [])],
    });
    sink.change(host, address, 'route', replacing ? 'replace' : 'create', summary(want), replacing ? [`namespace ${have!.netns} -> ${want.netns} (forces replacement)`] : []);
    return;
  }
  if (have.via !== want.via) {
    sink.step(host, address, {
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `change route ${summary(want)}`,
      do: [['route', 'replace', dst(want), ...nexthop(want), 'proto', ROUTE_PROTO]],
      undo: [cmd(host, want.netns, ['route', 'replace', dst(have), ...nexthop(have), 'proto', ROUTE_PROTO])],
      after,
    });
    sink.change(host, address, 'route', 'update', summary(want), [`via ${have.via} -> ${want.via}`]);
  }
}

/**
 * Routes tsnet did not make (a user's, in a sandbox tsnet owns) on a link this plan deletes, or
 * on one that loses its last IPv4 address: the kernel drops them with it. The plan says so, and
 * the undo of that step puts them back exactly, so a failed apply leaves them as they were.
 */
export function keepForeignRoutes(ctx: Context): void {
  for (const [address, ns] of ctx.view.ownedNs) {
    const name = ns.name!;
    if (ctx.dyingNs.has(name)) continue;
    for (const r of ns.routes) {
      if (!r.dev || r.protocol === ROUTE_PROTO || r.protocol === 'kernel') continue;
      const key = `${name}/${r.dev}`;
      const step = ctx.dyingLinks.get(key) ?? (r.family === 4 ? ctx.flushedLinks.get(key) : undefined);
      if (!step) continue;
      // As it was: next hop, interface, protocol, metric, source, scope, onlink.
      const line = [
        'route',
        'replace',
        dst({ to: r.dst, family: r.family }),
        ...(r.gateway ? ['via', r.gateway] : []),
        'dev',
        r.dev,
        ...(r.protocol ? ['proto', r.protocol] : []),
        ...(r.metric !== undefined ? ['metric', String(r.metric)] : []),
        ...(r.prefsrc ? ['src', r.prefsrc] : []),
        ...(r.scope && r.scope !== 'global' && r.scope !== 'universe' ? ['scope', r.scope] : []),
        ...(r.onlink ? ['onlink'] : []),
      ];
      ctx.sink.extendUndo(step, [cmd(ctx.host, name, line)]);
      ctx.sink.note(`${address}: the route ${describeRoute(r)} in ${name} is not tsnet's; the kernel drops it with ${r.dev}'s ${ctx.dyingLinks.has(key) ? 'deletion' : 'last IPv4 address'}, and tsnet does not add it again (a failed apply puts it back).`);
    }
  }
}
