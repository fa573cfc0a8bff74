// Two shapes of a topology, as in changesets: the file as written (derived from the schema, so
// the two cannot drift apart) and the normalized Topology that the rest of tsnet works on.
import type { FromSchema } from 'json-schema-to-ts';
import type { topologySchema } from './schema.js';
import type { ParsedShaping } from './shaping.js';
import type { Firewall } from './firewall.js';

/** The topology file as written, after the schema accepted it. */
export type TopologyFile = FromSchema<typeof topologySchema>;
export type NetworkFile = NonNullable<TopologyFile['networks']>[string];
export type SandboxFile = NonNullable<TopologyFile['sandboxes']>[string];
export type EndpointFile = NonNullable<SandboxFile['endpoints']>[number];
export type HostFile = NonNullable<TopologyFile['hosts']>[string];
export type CheckFile = NonNullable<TopologyFile['checks']>[number];

export type Family = 4 | 6;

/** The name of the host a topology without `hosts:` runs on. */
export const IMPLICIT_HOST = 'local';

export type Via =
  | { kind: 'local' }
  | { kind: 'ssh'; destination: string }
  | { kind: 'netns'; netns: string };

export interface Host {
  name: string;
  via: Via;
  /** Underlay address (no prefix), required by overlay networks. */
  underlay?: string;
}

export interface Subnet {
  /** Canonical CIDR, e.g. "198.18.0.0/24". */
  cidr: string;
  family: Family;
  prefixLength: number;
  gateway: string;
  /** Canonical CIDR of the allocation pool (the subnet itself when not given). */
  ipRange: string;
  reserved: string[];
  /** Where the subnet came from: the file, or Docker's default pools. */
  origin: 'file' | 'pool';
}

/**
 * A normalized network: what every driver has. Each driver's module (src/appliers) extends it
 * with its own fields (a bridge's kernel name, a macvlan's parent, an overlay's VNI).
 */
export interface Network {
  name: string;
  /** The registered driver that owns the network (src/appliers/registry.ts). */
  driver: string;
  subnets: Subnet[];
  /** MTU of the network's links; undefined = not managed (macvlan: the parent's). */
  mtu?: number;
  /** Hosts on which the network has kernel objects, in topology host order. */
  hosts: string[];
  /** The network has no gateway address (a p2p link, a bridge with `gateway: none`): no default route, nothing on the host. */
  gatewayless?: boolean;
}

export type SandboxMode =
  | { kind: 'own' }
  | { kind: 'none' }
  | { kind: 'host' }
  | { kind: 'container'; target: string };

export interface Endpoint {
  /** Resource address, e.g. "endpoint.web.eth0". */
  address: string;
  sandbox: string;
  network: string;
  /** Interface name inside the sandbox. */
  ifname: string;
  /** The end outside the sandbox, for drivers whose links have one (a veth's host end). */
  hostIfname?: string;
  /** Addresses with the subnet's prefix length, e.g. "198.18.0.5/24", one per subnet. */
  addresses: string[];
  /** Whether each address was written in the file or allocated. */
  static: boolean[];
  mac?: string;
  mtu?: number;
  /** False: down on the sandbox side (`up: false`, a cable pulled). */
  up?: boolean;
  /** Its `shaping:`, or its network's (the endpoint's own replaces the network's as a whole). */
  shaping?: ParsedShaping;
}

export interface Route {
  /** Resource address, e.g. "route.web.default" or "route.web.10.0.0.0/8". */
  address: string;
  /** "default" or a canonical CIDR. */
  to: string;
  via: string;
  family: Family;
  /** True for the default route tsnet adds via a network's gateway. */
  automatic: boolean;
  /** Why the route is left out for now: its next hop is only behind interfaces that are down (`up: false`). */
  suspended?: string;
}

export interface Sandbox {
  name: string;
  host: string;
  mode: SandboxMode;
  /** The namespace the sandbox lives in: its own (own, none), its target's (container), or null (host). */
  netns: string | null;
  /** True when tsnet creates the namespace (own and none). */
  ownsNetns: boolean;
  endpoints: Endpoint[];
  routes: Route[];
  /** Sysctls as strings, as `sysctl -n` prints them. */
  sysctls: Record<string, string>;  /**
   * A namespace tsnet did not make (external: true): a named one, or a process's (reached while
   * tsnet runs under `netns`, attached with `ip netns attach`). tsnet never marks, changes or
   * deletes it; only its own endpoints and routes in it.
   */
  external?: { netns: string } | { pid: number };
  /** Name servers (canonical addresses) and search domains for the sandbox's resolv.conf. */
  dns?: { servers: string[]; search: string[] };
}

/** Where a check's probe goes: a sandbox (all its addresses), one of its endpoints, or an address. */
export type CheckTarget =
  | { kind: 'sandbox'; sandbox: string }
  | { kind: 'endpoint'; sandbox: string; ifname: string }
  | { kind: 'address'; address: string; family: Family };

/** A check of the file (`checks:`), its names resolved; src/check turns it into probes. */
export interface Check {
  /** Position in the file's list (0-based). */
  index: number;
  /** The sandbox the probe starts in. */
  from: string;
  to: CheckTarget;
  /** `to` as written, for tables. */
  toText: string;
  /** Without it: ICMP echo. */
  port?: { number: number; proto: 'tcp' | 'udp' };
  expect: 'reach' | 'blocked';
}

/** A normalized topology: defaults filled, references resolved, addresses allocated. */
export interface Topology {
  name: string;
  /** The file it came from (for messages). */
  file: string;
  hosts: Map<string, Host>;
  networks: Map<string, Network>;
  sandboxes: Map<string, Sandbox>;
  /** True when the file declared no hosts and the implicit local host is used. */
  implicitHost: boolean;
  /** The file's checks (none in a topology made without a file, as destroy --name makes one). */
  checks?: Check[];
  /** Isolation, internal networks, published ports (src/model/firewall.ts); absent when the file asks for none. */
  firewall?: Firewall;
}
