// expand(): a normalized Topology becomes the flat set of resources tsnet manages, per host,
// keyed by resource address. Observed state is read into the same shapes (src/appliers), so the
// planner compares like with like. Networks and endpoints are expanded by their driver.
import { namesFiles } from '../appliers/names-content.js';
import { driverFor } from '../appliers/registry.js';
import { desiredQdisc, type Qdisc } from '../model/shaping.js';
import type { Endpoint, Network, Topology } from '../model/types.js';
import { expandFirewall, type FirewallSpec } from '../appliers/firewall.js';

export interface SandboxSpec {
  kind: 'sandbox';
  host: string;
  address: string;
  netns: string;
  /** Sysctls set in the namespace, as `sysctl` prints values. */
  sysctls: Record<string, string>;
  /** A namespace tsnet did not make and never changes: only its endpoints and routes are planned. */
  external?: { netns: string } | { pid: number };
}

/** A network's kernel objects on one host; its driver's module says what else it holds. */
export interface NetworkSpec {
  kind: 'network';
  /** The registered driver that plans it. */
  driver: string;
  host: string;
  address: string;
}

/** An endpoint: the interface that joins a sandbox to a network; its driver says the rest. */
export interface EndpointSpec {
  kind: 'endpoint';
  /** The registered driver that plans it (the network's). */
  driver: string;
  /** The kind of link in the sandbox (veth, macvlan): replacing one kind by another says so. */
  type: string;
  /** The network's resource address ("network.web"). */
  network: string;
  host: string;
  address: string;
  netns: string;
  ifname: string;
  mtu?: number;
  mac?: string;
  addresses: string[];
  ipv6: boolean;
  /** False: the link is down on the sandbox side (`up: false`); absent: up. */
  up?: boolean;
  /** The qdiscs its shaping asks for: on its own interface (egress) and on the other end (ingress). */
  shaping?: EndpointShaping;
}

/** An endpoint's qdiscs, defaults filled in (src/appliers/qdisc.ts plans them). */
export interface EndpointShaping {
  egress?: Qdisc;
  ingress?: Qdisc;
}

/** The qdiscs of an endpoint's shaping, at the MTU of its interface; undefined when it shapes nothing. */
export function endpointShaping(ep: Endpoint, mtu: number | undefined): EndpointShaping | undefined {
  if (!ep.shaping) return undefined;
  const opts = mtu !== undefined ? { mtu } : {};
  const egress = desiredQdisc(ep.shaping.egress, opts);
  const ingress = ep.shaping.ingress && desiredQdisc(ep.shaping.ingress, opts);
  return egress || ingress ? { ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}) } : undefined;
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
  /** Left out for now, and why (its interface is down): deleted where the kernel still holds it, not added. */
  suspended?: string;
}

/** One masquerade rule: from `subnet`, leaving through any interface but `notOut` (the bridge). */
export interface NatRuleSpec {
  family: 4 | 6;
  subnet: string;
  notOut: string;
}

/**
 * A network's NAT: a postrouting nat chain `nat-<network>` in tsnet's nftables table
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

/**
 * A names file (src/appliers/names.ts): a sandbox's `resolv.conf` under /etc/netns/<netns>/ (its
 * body: what follows tsnet's marker line), a shared hosts file (`hostsfile`, under
 * /etc/netns/.tsnet/<topology>/: one per host and set of networks), or a sandbox's `hosts`: a
 * symbolic link at /etc/netns/<netns>/hosts to its shared file (`target`, relative).
 */
export type FileSpec = ContentSpec | LinkSpec;

export interface ContentSpec {
  kind: 'resolv' | 'hostsfile';
  host: string;
  address: string;
  path: string;
  body: string;
  /** hostsfile: the sandboxes whose hosts link to it, in name order. */
  sandboxes?: string[];
}

export interface LinkSpec {
  kind: 'hosts';
  host: string;
  address: string;
  path: string;
  /** The link's target, relative to its directory: ../.tsnet/<topology>/<key>.hosts. */
  target: string;
  /** The address of the shared file it links to. */
  shared: string;
}

export type Spec = SandboxSpec | NetworkSpec | EndpointSpec | RouteSpec | NatSpec | FirewallSpec | FileSpec;

/** Desired resources per host, each host's map keyed by resource address. */
export type Desired = Map<string, Map<string, Spec>>;

export function expand(t: Topology): Desired {
  const desired: Desired = new Map([...t.hosts.keys()].map((h) => [h, new Map<string, Spec>()]));
  const put = (spec: Spec) => desired.get(spec.host)!.set(spec.address, spec);

  for (const net of t.networks.values()) for (const spec of driverFor(net.driver).expand.network(t, net)) put(spec);

  for (const sb of t.sandboxes.values()) {
    if (sb.netns === null || (!sb.ownsNetns && !sb.external)) continue;
    put({ kind: 'sandbox', host: sb.host, address: `sandbox.${sb.name}`, netns: sb.netns, sysctls: { ...sb.sysctls }, ...(sb.external ? { external: sb.external } : {}) });
    const at = { host: sb.host, netns: sb.netns };
    for (const ep of sb.endpoints) {
      const net = t.networks.get(ep.network)!;
      put(driverFor(net.driver).expand.endpoint(t, net, ep, at));
    }
    for (const r of sb.routes) {
      put({ kind: 'route', host: sb.host, address: r.address, netns: sb.netns, to: r.to, via: r.via, family: r.family, ...(r.suspended ? { suspended: r.suspended } : {}) });
    }
  }
  for (const spec of expandFirewall(t)) put(spec);
  for (const spec of namesFiles(t)) put(spec);
  return desired;
}

/** What every endpoint spec holds, from the topology: its driver adds the rest. */
export function endpointBase(net: Network, ep: Endpoint, sb: { host: string; netns: string }) {
  const shaping = endpointShaping(ep, ep.mtu ?? net.mtu);
  return {
    kind: 'endpoint' as const,
    driver: net.driver,
    network: `network.${net.name}`,
    host: sb.host,
    address: ep.address,
    netns: sb.netns,
    ifname: ep.ifname,
    addresses: [...ep.addresses],
    ipv6: net.subnets.some((s) => s.family === 6),
    ...(ep.mtu !== undefined ? { mtu: ep.mtu } : {}),
    ...(ep.mac ? { mac: ep.mac } : {}),
    ...(ep.up === false ? { up: false } : {}),
    ...(shaping ? { shaping } : {}),
  };
}
