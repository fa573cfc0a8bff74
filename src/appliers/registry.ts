// The driver registry: every kind of network tsnet knows, registered here and nowhere else.
// The schema's network branches, the rules, normalization, expansion, reading, planning and the
// graph all reach a driver through this list. A new driver is its module and one entry here.
import { bridge } from './bridge.js';
import type { Driver, LinkApplier } from './driver.js';
import { macvlan } from './macvlan.js';
import { overlay } from './overlay.js';
import { markResource } from './common.js';
import type { EndpointSpec, NetworkSpec } from '../planner/desired.js';
import type { KLink } from '../state/types.js';
import { perResource, type PlanContext, type ResourceApplier } from './types.js';

export const DRIVERS = [bridge, macvlan, overlay] as const;

/** The drivers' schema branches, as a tuple of their exact types (the file's types come from them). */
type SchemasOf<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R] ? readonly [H extends { schema: infer S } ? S : never, ...SchemasOf<R>] : readonly [];
export type DriverSchemas = SchemasOf<typeof DRIVERS>;

const byName = new Map<string, Driver>();
for (const d of DRIVERS) {
  if (byName.has(d.name)) throw new Error(`internal: two drivers are registered as "${d.name}"`);
  byName.set(d.name, d);
}

/** The names of the registered drivers, in registration order. */
export const driverNames = (): string[] => [...byName.keys()];

/** The driver called `name`; an error listing the registered ones when there is none. */
export function driverFor(name: string): Driver {
  const d = byName.get(name);
  if (!d) throw new Error(`unknown driver "${name}" (registered: ${driverNames().join(', ')})`);
  return d;
}

/** The driver called `name`, or undefined (a file the schema has not accepted yet). */
export const findDriver = (name: unknown): Driver | undefined => (typeof name === 'string' ? byName.get(name) : undefined);

/** Link details of a kind some driver reads (macvlan mode, VXLAN id...), from linkinfo.info_data. */
export function linkDetails(kind: string, data: Readonly<Record<string, unknown>>): Record<string, string | number | boolean> | undefined {
  for (const d of DRIVERS as readonly Driver[]) {
    const read = d.read.linkDetails?.[kind];
    if (read) return read(data);
  }
  return undefined;
}

/** What the drivers add to a link's line in a saved plan's fingerprint. */
export const linkFingerprint = (link: KLink): string[] => (DRIVERS as readonly Driver[]).flatMap((d) => d.read.fingerprint?.(link) ?? []);

/** Every distinct applier of one part (networks or endpoints) of the drivers. */
function appliersOf(part: 'network' | 'endpoint'): LinkApplier[] {
  return [...new Set(DRIVERS.flatMap((d: Driver) => (d[part] ? [d[part]] : [])))];
}

/**
 * Plans a network or endpoint with its driver's applier: the file's driver when the file names
 * it, else the one that recognizes what the host holds. When the two differ (a network's driver
 * changed), the old kind is deleted and the new one made, as one replacement.
 */
function dispatch(part: 'network' | 'endpoint'): (ctx: PlanContext, r: Parameters<LinkApplier['plan']>[1], want: NetworkSpec | EndpointSpec | undefined, upstream?: Parameters<LinkApplier['plan']>[3]) => void {
  const all = appliersOf(part);
  return (ctx, r, want, upstream) => {
    const held = all.filter((a) => a.recognizes(ctx, r.address));
    if (held.length > 1) throw new Error(`internal: ${r.address} is recognized by ${held.map((a) => a.linkKind).join(' and ')}`);
    const have = held[0];
    const wanted = want ? driverFor(want.driver)[part] : undefined;
    if (!wanted || !have || have === wanted) return (wanted ?? have)?.plan(ctx, r, want, upstream);
    have.remove(ctx, r);
    wanted.replace(ctx, r, want!, `${have.linkKind} -> ${wanted.linkKind}`);
  };
}

const ownedOf = (ctx: PlanContext, prefix: string) => {
  const out: string[] = [];
  for (const a of ctx.view.ownedLinks.keys()) if (a.startsWith(prefix)) out.push(markResource(a));
  return out;
};

/** The appliers of networks and of endpoints, over every driver. */
export const networks: ResourceApplier = perResource<NetworkSpec>({ kind: 'network', observed: (ctx) => ownedOf(ctx, 'network.'), plan: dispatch('network') });
export const endpoints: ResourceApplier = perResource<EndpointSpec>({ kind: 'endpoint', observed: (ctx) => ownedOf(ctx, 'endpoint.'), plan: dispatch('endpoint') });
