// The driver registry: every kind of network tsnet knows, registered here and nowhere else.
// The schema's network branches, the rules, normalization, expansion, reading, planning and the
// graph all reach a driver through this list. A new driver is its module and one entry here.
import { bridge } from './bridge.js';
import type { Driver, LinkApplier } from './driver.js';
import { macvlan } from './macvlan.js';
import { overlay } from './overlay.js';
import { p2p } from './p2p.js';
import { markResource } from './common.js';
import type { EndpointSpec, NetworkSpec } from '../planner/desired.js';
import type { KLink } from '../state/types.js';
import { perResource, type PlanContext, type ResourceApplier } from './types.js';

export const DRIVERS = [bridge, macvlan, overlay, p2p] as const;

/** The drivers' schema branches, as a tuple of their exact types (the file's types come from them). */
type SchemasOf<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R] ? readonly [H extends { schema: infer S } ? S : never, ...SchemasOf<R>] : readonly [];
export type DriverSchemas = SchemasOf<typeof DRIVERS>;

/** The drivers by name; two drivers under one name are refused. */
export function indexDrivers(drivers: readonly Driver[]): Map<string, Driver> {
  const byName = new Map<string, Driver>();
  for (const d of drivers) {
    if (byName.has(d.name)) throw new Error(`internal: two drivers are registered as "${d.name}"`);
    byName.set(d.name, d);
  }
  return byName;
}

const byName = indexDrivers(DRIVERS);

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
function appliersOf(drivers: readonly Driver[], part: 'network' | 'endpoint'): LinkApplier[] {
  return [...new Set(drivers.flatMap((d) => (d[part] ? [d[part]] : [])))];
}

type Plan1 = (ctx: PlanContext, r: Parameters<LinkApplier['plan']>[1], want: NetworkSpec | EndpointSpec | undefined, upstream?: Parameters<LinkApplier['plan']>[3]) => void;

/**
 * Plans a network or endpoint with its driver's applier: the file's driver when the file names
 * it, else the one that recognizes what the host holds. When the two differ (a network's driver
 * changed), the old kind is deleted and the new one made, as one replacement.
 */
function dispatch(drivers: readonly Driver[], part: 'network' | 'endpoint'): Plan1 {
  const all = appliersOf(drivers, part);
  const named = indexDrivers(drivers);
  const twoKinds = (r: Parameters<Plan1>[1], kinds: readonly LinkApplier[]) =>
    r.error(`the links the host holds for ${r.address} are of more than one kind (${kinds.map((a) => a.linkKind).join(' and ')}): delete them by hand`);
  return (ctx, r, want, upstream) => {
    if (want && !named.has(want.driver)) throw new Error(`unknown driver "${want.driver}" (registered: ${[...named.keys()].join(', ')})`);
    const wanted = want ? named.get(want.driver)![part] : undefined;
    // The wanted kind plans what it finds itself; the others say whether the host holds their
    // kind instead (the network's driver changed).
    const others = all.filter((a) => a !== wanted && a.recognizes(ctx, r.address));
    if (!wanted) return others.length > 1 ? twoKinds(r, others) : others[0]?.plan(ctx, r, want, upstream);
    if (!others.length) return wanted.plan(ctx, r, want, upstream);
    if (others.length > 1 || wanted.recognizes(ctx, r.address)) return twoKinds(r, wanted.recognizes(ctx, r.address) ? [wanted, ...others] : others);
    others[0]!.remove(ctx, r);
    wanted.replace(ctx, r, want!, `${others[0]!.linkKind} -> ${wanted.linkKind}`);
  };
}

const ownedOf = (ctx: PlanContext, prefix: string) => {
  const out: string[] = [];
  for (const a of ctx.view.ownedLinks.keys()) if (a.startsWith(prefix)) out.push(markResource(a));
  return out;
};

/** The appliers of networks and of endpoints over a list of drivers (the registry's, unless a test gives another order). */
export function linkAppliers(drivers: readonly Driver[] = DRIVERS): { networks: ResourceApplier; endpoints: ResourceApplier } {
  return {
    networks: perResource<NetworkSpec>({ kind: 'network', observed: (ctx) => ownedOf(ctx, 'network.'), plan: dispatch(drivers, 'network') }),
    endpoints: perResource<EndpointSpec>({ kind: 'endpoint', observed: (ctx) => ownedOf(ctx, 'endpoint.'), plan: dispatch(drivers, 'endpoint') }),
  };
}

export const { networks, endpoints } = linkAppliers();
