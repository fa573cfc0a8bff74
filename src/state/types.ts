// The live kernel state as tsnet reads it: links, addresses and routes per namespace, per host.
import type { KFile } from './files.js';
import type { DeviceQdiscs } from './tc.js';

export type { KFile };

export type Family = 4 | 6;

export interface KAddress {
  family: Family;
  /** "198.18.0.5/24", canonical. */
  cidr: string;
  scope: string;
}

export interface KLink {
  ifindex: number;
  ifname: string;
  /** The namespace the link is in: null for the host's own stack. */
  ns: string | null;
  /** linkinfo.info_kind: bridge, veth, macvlan, vxlan; null for loopback and physical NICs. */
  kind: string | null;
  /** Administratively up (the UP flag). */
  up: boolean;
  /**
   * Operational state as the kernel reports it (RFC 2863): UP, DOWN, LOWERLAYERDOWN (its lower
   * device, e.g. a macvlan's parent, is down or has no carrier), DORMANT, UNKNOWN (lo and other
   * devices that do not report one). Shown only; plans do not compare it.
   */
  operstate?: string;
  /** The NO-CARRIER flag: administratively up, but the link has no carrier (LOWER_UP missing). */
  noCarrier?: boolean;
  mtu: number;
  mac: string;
  master?: string;
  /** A bridge port's hairpin mode (it may send a frame back out of the port it came in by); bridge ports only. */
  hairpin?: boolean;
  alias?: string;
  addresses: KAddress[];
  addrGenMode?: string;
  /** The lower device (macvlan parent, veth peer) by name when in the same namespace. */
  link?: string;
  /** The lower device's ifindex when it is in another namespace. */
  linkIndex?: number;
  linkNetnsId?: number;
  /** Details of the link's kind that a driver reads (a macvlan's mode, a VXLAN device's id and port). */
  details?: Record<string, string | number | boolean>;
  /** The kind of its root qdisc, as `ip -json link` prints it (noqueue, noop, tbf, netem, htb...). */
  qdisc?: string;
  /**
   * Its qdiscs as `tc -r -json qdisc show` reads them: only on owned links of a namespace where
   * one owned link holds something other than the default (see readQdiscs in read.ts).
   */
  qdiscs?: DeviceQdiscs;
}

export interface KRoute {
  family: Family;
  /** "default" or a canonical CIDR. */
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  type?: string;
  table?: string;
  scope?: string;
  metric?: number;
  /** Preferred source address. */
  prefsrc?: string;
  onlink?: boolean;
}

/** A forwarding-database entry of a VXLAN device (bridge fdb). */
export interface KFdb {
  mac: string;
  dev: string;
  dst?: string;
  permanent: boolean;
}

/** A neighbour (ARP/NDP) entry. */
export interface KNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  permanent: boolean;
}

export interface KNamespace {
  /** The namespace name; null for the host's own stack. */
  name: string | null;
  links: KLink[];
  routes: KRoute[];
  /** Sysctls read for this namespace (only those asked for). */
  sysctls: Record<string, string>;
  fdb: KFdb[];
  neigh: KNeigh[];
  /**
   * Processes inside the namespace (pids), where tsnet can tell (namespaces of this machine):
   * deleting the name then leaves the namespace alive, with its interfaces, for them.
   */
  inUse?: number[];
  /**
   * When the namespace was made, where tsnet can tell (this machine): the ctime of the nsfs
   * inode at /run/netns/NAME, in ms. Adoption after a kill takes only a namespace made since the
   * killed run began.
   */
  created?: number;
  /**
   * /run/netns/NAME exists but has no namespace mounted on it (entering it fails with "Invalid
   * argument"): what `ip netns add` leaves when killed between creating the file and mounting.
   */
  leftover?: true;
}

/** A masquerade rule as tsnet writes it: from `subnet`, leaving through any interface but `notOut`. */
import type { KListener } from './listeners.js';

export interface KNatRule {
  family: Family;
  subnet: string;
  notOut: string;
  handle: number;
  comment?: string;
  /** False: the rule has some other shape (changed by hand); it is drift. */
  understood: boolean;
  /** The rule as `nft list` prints it, without its comment (src/state/nft.ts ruleText); undefined: a shape tsnet never writes. */
  text?: string;
}

export interface KNatChain {
  name: string;
  /** "nat/postrouting/100" for tsnet's chains: type, hook and priority. */
  base?: string;
  rules: KNatRule[];
}

/** tsnet's nftables table on a host (`inet tsnet-<topology>`). */
export interface KNatTable {
  name: string;
  chains: KNatChain[];
}

export interface HostState {
  host: string;
  root: KNamespace;
  /**
   * The topology's nftables table: null when the host has none, undefined when it was not read.
   */
  nat?: KNatTable | null;
  /** Why nftables cannot be used on the host (nft missing, no nf_tables in the kernel). */
  natUnavailable?: string;
  /** Sockets listening on the host's own stack; read only where the topology publishes ports. */
  listeners?: KListener[];
  /** Every named namespace of the host's machine that was read, by name. */
  namespaces: Map<string, KNamespace>;
  /** The names files read (/etc/netns/<namespace>/hosts, resolv.conf), by path; undefined when not read. */
  files?: Map<string, KFile>;
}

export interface LiveState {
  hosts: Map<string, HostState>;
}

export const emptyNamespace = (name: string | null): KNamespace => ({ name, links: [], routes: [], sysctls: {}, fdb: [], neigh: [] });
