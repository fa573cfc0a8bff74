// expand(): a normalized Topology becomes the flat set of resources tsnet manages, per host,
// keyed by resource address. Observed state is read into the same shapes (appliers/*.ts), so
// the planner compares like with like.
import type { MacvlanMode, Topology } from '../model/types.js';
import { natChainName, natTableName } from '../state/nft.js';

export interface SandboxSpec {
  kind: 'sandbox';
  host: string;
  address: string;
  netns: string;
  /** Sysctls set in the namespace, as `sysctl` prints values. */
  sysctls: Record<string, string>;
}

export interface BridgeSpec {
  kind: 'network';
  type: 'bridge';
  host: string;
  address: string;
  ifname: string;
  mtu: number;
  /** Gateway addresses with prefix, e.g. "198.18.0.1/24". */
  addresses: string[];
  /** False: the network has no IPv6, so the bridge gets no IPv6 address at all. */
  ipv6: boolean;
}

export interface OverlayEntry {
  mac: string;
  /** Address of the remote endpoint (neighbour entry). */
  ip: string[];
  /** Underlay address of the host the endpoint is on. */
  underlay: string;
}

export interface OverlaySpec {
  kind: 'network';
  type: 'overlay';
  host: string;
  address: string;
  bridge: string;
  vxlan: string;
  vni: number;
  port: number;
  /** This host's underlay address: the tunnel's local end. */
  local: string;
  mtu: number;
  ipv6: boolean;
  /** Underlay addresses of the other hosts on the network (flood entries). */
  flood: string[];
  /** Endpoints on the other hosts: forwarding and neighbour entries. */
  remote: OverlayEntry[];
}

interface EndpointBase {
  kind: 'endpoint';
  host: string;
  address: string;
  netns: string;
  ifname: string;
  mtu?: number;
  mac?: string;
  addresses: string[];
  ipv6: boolean;
}

export interface VethSpec extends EndpointBase {
  type: 'veth';
  hostIfname: string;
  /** MAC of the host end (observed endpoints only: the undo of a deletion puts it back). */
  hostMac?: string;
  /**
   * MTU of the host end: the network's, whatever the endpoint's own (the inner end's) is. A
   * bridge takes the smallest MTU of its ports, so a smaller host end would shrink it.
   */
  hostMtu?: number;
  /** The bridge the host end is enslaved to. */
  master: string;
}

export interface MacvlanSpec extends EndpointBase {
  type: 'macvlan';
  parent: string;
  mode: MacvlanMode;
}

export interface RouteSpec {
  kind: 'route';
  host: string;
  address: string;
  netns: string;
  to: string;
  via: string;
  family: 4 | 6;
  /** The interface the kernel shows the route on (observed routes only; not compared). */
  dev?: string;
}

/** One masquerade rule: from `subnet`, leaving through any interface but `notOut` (the bridge). */
export interface NatRuleSpec {
  family: 4 | 6;
  subnet: string;
  notOut: string;
}

/**
 * A bridge network's NAT: a postrouting nat chain `nat-<network>` in tsnet's nftables table
 * `inet tsnet-<topology>`, one masquerade rule per subnet.
 */
export interface NatSpec {
  kind: 'nat';
  host: string;
  address: string;
  table: string;
  chain: string;
  rules: NatRuleSpec[];
}

export type NetworkSpec = BridgeSpec | OverlaySpec;
export type EndpointSpec = VethSpec | MacvlanSpec;
export type Spec = SandboxSpec | NetworkSpec | EndpointSpec | RouteSpec | NatSpec;

/** Desired resources per host, each host's map keyed by resource address. */
export type Desired = Map<string, Map<string, Spec>>;

export function expand(t: Topology): Desired {
  const desired: Desired = new Map([...t.hosts.keys()].map((h) => [h, new Map<string, Spec>()]));
  const put = (spec: Spec) => desired.get(spec.host)!.set(spec.address, spec);

  for (const net of t.networks.values()) {
    const ipv6 = net.subnets.some((s) => s.family === 6);
    const address = `network.${net.name}`;
    if (net.driver === 'bridge') {
      for (const host of net.hosts) {
        put({
          kind: 'network',
          type: 'bridge',
          host,
          address,
          ifname: net.bridge,
          mtu: net.mtu ?? 1500,
          addresses: net.subnets.map((s) => `${s.gateway}/${s.prefixLength}`),
          ipv6,
        });
        if (net.nat) {
          put({
            kind: 'nat',
            host,
            address: `nat.${net.name}`,
            table: natTableName(t.name),
            chain: natChainName(net.name),
            rules: net.subnets.map((s) => ({ family: s.family, subnet: s.cidr, notOut: net.bridge })),
          });
        }
      }
    } else if (net.driver === 'overlay') {
      const members = [...t.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.network === net.name).map((e) => ({ sb, e })));
      for (const host of net.hosts) {
        const local = t.hosts.get(host)!.underlay!;
        const others = net.hosts.filter((h) => h !== host);
        put({
          kind: 'network',
          type: 'overlay',
          host,
          address,
          bridge: net.bridge,
          vxlan: net.vxlan,
          vni: net.vni,
          port: net.port,
          local,
          mtu: net.mtu ?? 1450,
          ipv6,
          flood: others.map((h) => t.hosts.get(h)!.underlay!),
          remote: members
            .filter(({ sb }) => sb.host !== host)
            .map(({ sb, e }) => ({ mac: e.mac!, ip: e.addresses.map((a) => a.split('/')[0]!), underlay: t.hosts.get(sb.host)!.underlay! })),
        });
      }
    }
  }

  for (const sb of t.sandboxes.values()) {
    if (!sb.ownsNetns || sb.netns === null) continue;
    put({ kind: 'sandbox', host: sb.host, address: `sandbox.${sb.name}`, netns: sb.netns, sysctls: { ...sb.sysctls } });
    for (const ep of sb.endpoints) {
      const net = t.networks.get(ep.network)!;
      const ipv6 = net.subnets.some((s) => s.family === 6);
      const base = {
        kind: 'endpoint' as const,
        host: sb.host,
        address: ep.address,
        netns: sb.netns,
        ifname: ep.ifname,
        addresses: [...ep.addresses],
        ipv6,
        ...(ep.mtu !== undefined ? { mtu: ep.mtu } : {}),
        ...(ep.mac ? { mac: ep.mac } : {}),
      };
      if (net.driver === 'macvlan') put({ ...base, type: 'macvlan', parent: net.parent, mode: net.mode });
      else put({ ...base, type: 'veth', hostIfname: ep.hostIfname!, master: net.bridge, ...(net.mtu !== undefined ? { hostMtu: net.mtu } : {}) });
    }
    for (const r of sb.routes) {
      put({ kind: 'route', host: sb.host, address: r.address, netns: sb.netns, to: r.to, via: r.via, family: r.family });
    }
  }
  return desired;
}
