// What a driver is: everything tsnet knows about one kind of network and its endpoints, in one
// object, registered in src/appliers/registry.ts. Nothing outside the registry and the driver
// modules asks which driver a network has. docs/drivers.md says how to add one.
import type { PreparedNetwork } from '../model/prepare.js';
import type { Rule } from '../model/rules.js';
import type { Endpoint, Network, Topology } from '../model/types.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { EndpointSpec, Spec } from '../planner/desired.js';
import type { KLink } from '../state/types.js';
import type { PlanContext, Upstream } from './types.js';

/** A network as written in the file, after the schema accepted it (the driver's own branch). */
export type RawNetwork = { driver: string; subnet?: string | readonly string[]; mtu?: number } & Record<string, unknown>;

/** The applier of one kind of link resource: a driver's network, or its endpoints. */
export interface LinkApplier {
  /** How reasons name the kind ("veth -> macvlan (forces replacement)"). */
  readonly linkKind: string;
  /**
   * True when the links the host holds under `address` are of this kind: how a resource the file
   * no longer names finds its applier. The drivers' answers never overlap.
   */
  recognizes(ctx: PlanContext, address: string): boolean;
  /** Plans the resource: create, update in place or replace (with reasons), or delete. */
  plan(ctx: PlanContext, r: ResourcePlan, want: Spec | undefined, upstream?: Upstream): void;
  /** Deletes what the resource holds: a resource of another kind replaces it. */
  remove(ctx: PlanContext, r: ResourcePlan): void;
  /** Makes the resource, replacing one of another kind (`reason` says which). */
  replace(ctx: PlanContext, r: ResourcePlan, want: Spec, reason: string): void;
}

/** One end of a link, as tc shapes it: where it is, its name, and the mark that makes it tsnet's. */
export interface LinkEnd {
  ns: string | null;
  ifname: string;
  /** The resource address of its ownership mark ("endpoint.a.eth0/peer"). */
  mark: string;
}

/** What a driver says about the file's networks: their meaning, defaults and rules. */
export interface DriverModel {
  /** 'local': all of the network is on one host (Docker's local scope); 'global': on any host. */
  readonly scope: 'local' | 'global';
  /** A network without a subnet gets one from the default pools, or needs one (`why` ends the message). */
  readonly subnet: { readonly pooled: true } | { readonly pooled: false; readonly why: string };
  /**
   * The network has a gateway address in its subnet (kept out of automatic allocation). False:
   * a link between two ends, which may use every address of a /31 or /127.
   */
  gatewayIn(raw: RawNetwork): boolean;
  /** The gateway address belongs to the network (the host, the LAN's router): no endpoint takes it. */
  readonly gatewayReserved: boolean;
  /** The gateway address sits on each of the network's hosts (on its bridge), so it answers there. */
  readonly gatewayOnHost: boolean;
  /** Sandboxes get a default route through the gateway of their first network of this driver. */
  readonly defaultRoute: boolean;
  /** The network exists on the first host even without endpoints (as `docker network create` makes it). */
  readonly withoutEndpoints: boolean;
  /**
   * Fields whose schema error leaves the network worth checking further: 'string', when a
   * string failed its pattern; 'any', for any error (an enum).
   */
  readonly leafKeys: Readonly<Record<string, 'string' | 'any'>>;
  /** The kernel name of the network's bridge on each host, where it has one (`given`: written in the file). */
  bridge?(name: string, raw: RawNetwork): { name: string; given: boolean };
  /** The driver's own semantic rules (diagnostics with codes, positions and resource addresses). */
  readonly rules: readonly Rule[];
  /** The normalized network: `base` with the driver's name, its own fields and defaults. */
  normalize(base: Pick<Network, 'name' | 'subnets' | 'hosts'>, raw: RawNetwork, prepared: PreparedNetwork): Network;
  /** Endpoint fields the driver names (the host end of a veth). */
  endpoint?(topology: string, sandbox: string, ifname: string): Partial<Pick<Endpoint, 'hostIfname'>>;
  /** Endpoint fields that follow from its addresses (an overlay endpoint's MAC), once they are allocated. */
  allocated?(ep: Endpoint): void;
}

/** How a driver's kernel objects are read. */
export interface DriverRead {
  /** Details of links of the kinds it makes, from `ip -d -json`'s linkinfo.info_data, as plain values. */
  readonly linkDetails?: Readonly<Record<string, (data: Readonly<Record<string, unknown>>) => Record<string, string | number | boolean>>>;
  /** Details that matter for a saved plan's fingerprint (see src/state/fingerprint.ts). */
  fingerprint?(link: KLink): string | undefined;
  /** The hosts' own stacks also need their neighbour and forwarding entries read. */
  readonly hostEntries?: boolean;
  /** Sysctls of the host's own stack to read for the network (forwarding, for NAT). */
  hostSysctls?(net: Network): readonly string[];
}

export interface Driver {
  /** The `driver:` value in the file. */
  readonly name: string;
  /** The network's JSON Schema branch: an object schema whose `driver` is `{const: name}`. */
  readonly schema: object;
  readonly model: DriverModel;
  readonly expand: {
    /** The desired resources of the network on each of its hosts (its kernel objects, its NAT). */
    network(t: Topology, net: Network): Spec[];
    /** The desired spec of an endpoint on the network, in the sandbox's namespace on its host. */
    endpoint(t: Topology, net: Network, ep: Endpoint, at: { host: string; netns: string }): EndpointSpec;
  };
  readonly read: DriverRead;
  /** The network's own kernel objects; none for a driver whose networks have none (macvlan's parent is foreign). */
  readonly network?: LinkApplier;
  /** Its endpoints (drivers may share one: bridge and overlay endpoints are both veths on a bridge). */
  readonly endpoint: LinkApplier;
  /**
   * The other end of an endpoint's link, where `shaping.ingress` is set (a veth's host end, a
   * point-to-point peer). A driver without one (macvlan: only the sandbox side exists) makes
   * `ingress` a validation error.
   */
  otherEnd?(spec: EndpointSpec): LinkEnd;
  readonly graph: {
    /** The line under the network's name ("bridge tsn-web, NAT"). */
    label(net: Network): string;
    /** The gateway line is drawn (the network has a gateway of its own). */
    readonly showsGateway: boolean;
    /** The network is drawn as a direct edge between its two endpoints' sandboxes, not as a node. */
    readonly direct?: boolean;
  };
}

/** Defines a driver, keeping its schema branch's exact type (the file's types are derived from it). */
export const defineDriver = <const D extends Driver>(d: D): D => d;
