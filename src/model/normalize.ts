// normalize(): the prepared file becomes a Topology: defaults filled, references resolved,
// subnets picked and addresses allocated. Pure: what the kernel holds now comes in as `held`.
import type { RawNetwork } from '../appliers/driver.js';
import { driverFor } from '../appliers/registry.js';
import {
  contains,
  dockerDefaultPools,
  formatCidr,
  formatIp,
  PoolAllocator,
  overlaps,
  parseCidr,
  parseIp,
  canonicalIp,
  firstHost,
  networkAddress,
  broadcastAddress,
  type Cidr,
} from './addresses.js';
import type { Diagnostic } from './diagnostics.js';
import { asList, networkHosts, type Prepared, type PreparedNetwork } from './prepare.js';
import { makeReporter, type Reporter } from './rules.js';
import { toCheck } from '../check/spec.js';
import { firewallOf } from './firewall.js';
import type { SourceFile } from './source.js';
import { effectiveShaping, parseShaping, type ParsedShaping, type ShapingFile } from './shaping.js';
import type {
  Endpoint,
  Host,
  Network,
  Route,
  Sandbox,
  Subnet,
  Topology,
} from './types.js';

/** What the kernel holds now, so that normalize() keeps it (stable allocation). */
export interface Held {
  /** Addresses each endpoint holds, by endpoint address ("endpoint.web.eth0"), as CIDRs. */
  endpoints?: ReadonlyMap<string, readonly string[]>;
  /** Subnets each network holds (its gateway addresses on the bridge), by network name. */
  subnets?: ReadonlyMap<string, readonly string[]>;
  /**
   * Routes of each host's own stack that are not tsnet's, by host: a subnet picked from the
   * pools must not overlap them (Docker does the same).
   */
  hostRoutes?: ReadonlyMap<string, readonly string[]>;
}

export function normalize(p: Prepared, source: SourceFile, held: Held = {}): { topology?: Topology; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const report = makeReporter(source, diagnostics);
  const hosts = normalizeHosts(p);
  const networks = normalizeNetworks(p, held, report);
  const sandboxes = normalizeSandboxes(p, networks);
  allocate(p, networks, sandboxes, held, report);
  // Endpoint fields that follow from the addresses (an overlay endpoint's MAC).
  for (const sb of sandboxes.values()) for (const ep of sb.endpoints) driverFor(networks.get(ep.network)!.driver).model.allocated?.(ep);
  for (const sb of sandboxes.values()) if (sb.mode.kind === 'own') sb.routes = suspendRoutes(sb, routesOf(p, sb, networks));
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const checks = (p.file.checks ?? []).flatMap((c, i) => toCheck(c, i) ?? []);
  const firewall = firewallOf(p, networks, sandboxes);
  return { topology: { name: p.name, file: source.file, hosts, networks, sandboxes, implicitHost: p.implicitHost, checks, ...(firewall ? { firewall } : {}) }, diagnostics };
}

function normalizeHosts(p: Prepared): Map<string, Host> {
  const hosts = new Map<string, Host>();
  for (const h of p.hosts.values()) {
    const underlay = h.raw?.underlay ? parseIp(h.raw.underlay) : undefined;
    hosts.set(h.name, { name: h.name, via: h.via, ...(underlay ? { underlay: formatIp(underlay.family, underlay.value) } : {}) });
  }
  return hosts;
}

/** The networks with their subnets (picked from the default pools where the driver allows it) and defaults. */
function normalizeNetworks(p: Prepared, held: Held, report: Reporter): Map<string, Network> {
  const networks = new Map<string, Network>();
  const claimed: Cidr[] = [];
  for (const net of p.networks.values()) for (const s of net.subnets) claimed.push(s.cidr);
  const pooled = (net: PreparedNetwork) => net.subnets.length === 0 && driverFor(net.raw.driver).model.subnet.pooled;
  // Subnets networks hold now are claimed before any new one is picked, so that a network added
  // earlier in the file cannot take the subnet of one that exists (and renumber it).
  const keptSubnets = new Map<string, Cidr>();
  for (const net of p.networks.values()) {
    const kept = pooled(net) ? heldSubnet(net, claimed, held) : undefined;
    if (!kept) continue;
    keptSubnets.set(net.name, kept);
    claimed.push(kept);
  }
  for (const net of p.networks.values()) {
    let subnets = net.subnets.map((s) => toSubnet(net, s.cidr, 'file'));
    if (pooled(net)) {
      const kept = keptSubnets.get(net.name);
      const picked = kept ? { cidr: kept, origin: 'pool' as const } : pickSubnet(p, net, claimed, held);
      if (!picked) {
        // Keep the network (without a subnet), so that its endpoints still normalize and every
        // problem is reported in one run.
        report.error('no-free-subnet', `no free subnet left in the default pools for network "${net.name}"`, net.path, { resource: `network.${net.name}`, key: true, hint: 'give it a subnet' });
      } else {
        if (!kept) claimed.push(picked.cidr);
        subnets = [toSubnet(net, picked.cidr, picked.origin)];
      }
    }
    const base = { name: net.name, subnets, hosts: networkHosts(p, net.name) };
    const driver = driverFor(net.raw.driver);
    const normalized = driver.model.normalize(base, net.raw as RawNetwork, net);
    if (!driver.model.gatewayIn(net.raw as RawNetwork)) normalized.gatewayless = true;
    networks.set(net.name, normalized);
  }
  return networks;
}

/** The sandboxes and their endpoints (addresses are allocated after), namespaces shared by container: resolved. */
function normalizeSandboxes(p: Prepared, networks: ReadonlyMap<string, Network>): Map<string, Sandbox> {
  const sandboxes = new Map<string, Sandbox>();
  for (const sb of p.sandboxes.values()) {
    const endpoints: Endpoint[] = sb.endpoints.map((ep) => {
      const net = networks.get(ep.raw.network)!;
      const mtu = ep.raw.mtu ?? net.mtu;
      const shaping = shapingOf(p, ep.raw.network, ep.raw.shaping);
      return {
        address: ep.address,
        sandbox: sb.name,
        network: net.name,
        ifname: ep.ifname,
        ...driverFor(net.driver).model.endpoint?.(p.name, sb.name, ep.ifname),
        addresses: [],
        static: [],
        ...(ep.raw.mac ? { mac: ep.raw.mac.toLowerCase() } : {}),
        ...(mtu !== undefined ? { mtu } : {}),
        ...(ep.raw.up === false ? { up: false } : {}),
        ...(shaping ? { shaping } : {}),
      };
    });
    const sysctls: Record<string, string> = {};
    for (const [k, v] of Object.entries(sb.raw.sysctls ?? {})) sysctls[k] = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    const dns = sb.raw.dns ? { servers: (sb.raw.dns.servers ?? []).map((a) => canonicalIp(a) ?? a), search: [...(sb.raw.dns.search ?? [])] } : undefined;
    const external = !sb.raw.external || sb.netns === undefined ? undefined : sb.raw.pid !== undefined ? { pid: sb.raw.pid } : { netns: sb.netns };
    sandboxes.set(sb.name, {
      name: sb.name,
      host: sb.host,
      mode: sb.mode,
      netns: sb.netns ?? null,
      ownsNetns: sb.netns !== undefined && !external,
      endpoints,
      routes: [],
      sysctls,
      ...(dns ? { dns } : {}),
      ...(external ? { external } : {}),
    });
  }
  // container:<x> shares x's namespace (following chains; rules refused cycles).
  for (const sb of sandboxes.values()) {
    let cur: Sandbox | undefined = sb;
    while (cur && cur.mode.kind === 'container') cur = sandboxes.get(cur.mode.target);
    if (sb.mode.kind === 'container') sb.netns = cur?.netns ?? null;
  }
  return sandboxes;
}

/**
 * An endpoint's shaping in canonical numbers: its own, else its network's (the rules reported
 * every bad value already); undefined when it shapes nothing.
 */
function shapingOf(p: Prepared, network: string, own: ShapingFile | undefined): ParsedShaping | undefined {
  const ignore = () => {};
  const netRaw = (p.networks.get(network)?.raw as { shaping?: ShapingFile } | undefined)?.shaping;
  const parsed = effectiveShaping(netRaw && parseShaping(netRaw, ignore), own && parseShaping(own, ignore));
  if (!parsed) return undefined;
  const empty = (v: object | undefined) => !v || Object.keys(v).length === 0;
  return empty(parsed.egress) && empty(parsed.ingress) ? undefined : parsed;
}

/** A sandbox's routes: the file's, then a default route per family via the first gateway whose driver gives one. */
/**
 * Routes whose next hop is only behind interfaces that are down: the kernel drops a down link's
 * routes and refuses new ones through it, so they are left out (and deleted) until it is up.
 */
function suspendRoutes(sb: Sandbox, routes: Route[]): Route[] {
  if (!sb.endpoints.some((e) => e.up === false)) return routes;
  for (const r of routes) {
    const via = parseIp(r.via);
    const onLink = (cidr: string) => {
      const c = parseCidr(cidr, false);
      return c !== undefined && via !== undefined && contains(c, via.family, via.value);
    };
    const behind = sb.endpoints.filter((e) => e.addresses.some(onLink));
    if (behind.length && behind.every((e) => e.up === false)) r.suspended = `its interface ${behind.map((e) => e.ifname).join(', ')} is down (up: false)`;
  }
  return routes;
}

function routesOf(p: Prepared, sb: Sandbox, networks: ReadonlyMap<string, Network>): Route[] {
  const raw = p.sandboxes.get(sb.name)!.raw;
  const routes: Route[] = [];
  for (const r of raw.routes ?? []) {
    const via = parseIp(r.via)!;
    const family = via.family;
    if (r.to === 'default') {
      const key = family === 4 ? 'default' : 'default-ipv6';
      routes.push({ address: `route.${sb.name}.${key}`, to: 'default', via: formatIp(via.family, via.value), family, automatic: false });
    } else {
      const cidr = parseCidr(r.to, true) ?? parseCidr(`${r.to}/${family === 4 ? 32 : 128}`)!;
      routes.push({ address: `route.${sb.name}.${formatCidr(cidr)}`, to: formatCidr(cidr), via: formatIp(via.family, via.value), family, automatic: false });
    }
  }
  // An external namespace keeps its own routing: tsnet adds only the routes the file writes.
  for (const family of sb.external ? [] : ([4, 6] as const)) {
    if (routes.some((r) => r.to === 'default' && r.family === family)) continue;
    for (const ep of sb.endpoints) {
      const net = networks.get(ep.network)!;
      if (!driverFor(net.driver).model.defaultRoute || net.gatewayless) continue;
      const subnet = net.subnets.find((s) => s.family === family);
      if (!subnet || !ep.addresses.some((a) => parseCidr(a, false)?.family === family)) continue;
      const key = family === 4 ? 'default' : 'default-ipv6';
      routes.push({ address: `route.${sb.name}.${key}`, to: 'default', via: subnet.gateway, family, automatic: true });
      break;
    }
  }
  return routes;
}

function toSubnet(net: PreparedNetwork, cidr: Cidr, origin: 'file' | 'pool'): Subnet {
  const given = net.subnets.find((s) => s.cidr.family === cidr.family && s.cidr.base === cidr.base);
  const gateway = given?.gateway ?? firstHost(cidr);
  const range = given?.ipRange ?? cidr;
  const reserved = asList(net.raw.reserved)
    .map((t) => parseIp(t))
    .filter((ip) => ip !== undefined && contains(cidr, ip.family, ip.value))
    .map((ip) => formatIp(ip!.family, ip!.value));
  return {
    cidr: formatCidr(cidr),
    family: cidr.family,
    prefixLength: cidr.prefixLength,
    gateway: formatIp(cidr.family, gateway),
    ipRange: formatCidr(range),
    reserved,
    origin,
  };
}

/** The subnet a bridge network without one in the file holds now, if nothing claimed it since. */
function heldSubnet(net: PreparedNetwork, claimed: readonly Cidr[], held: Held): Cidr | undefined {
  for (const text of held.subnets?.get(net.name) ?? []) {
    const cidr = parseCidr(text, false);
    if (cidr && cidr.family === 4 && !claimed.some((c) => overlaps(c, cidr))) return cidr;
  }
  return undefined;
}

/** A bridge network without a subnet (and none held) gets the first free pool. */
function pickSubnet(p: Prepared, net: PreparedNetwork, claimed: Cidr[], held: Held): { cidr: Cidr; origin: 'pool' } | undefined {
  const hostRoutes = networkHosts(p, net.name)
    .flatMap((h) => held.hostRoutes?.get(h) ?? [])
    .map((t) => parseCidr(t, false))
    .filter((c): c is Cidr => c !== undefined && c.prefixLength > 0);
  for (const pool of dockerDefaultPools()) {
    if (claimed.some((c) => overlaps(c, pool)) || hostRoutes.some((c) => overlaps(c, pool))) continue;
    return { cidr: pool, origin: 'pool' };
  }
  return undefined;
}

/**
 * Addresses for endpoints that name none: the lowest free address of the ipRange, skipping
 * network, broadcast, gateway, reserved and static addresses. Held addresses are kept first,
 * so adding or removing a sandbox never renumbers another.
 */
function allocate(p: Prepared, networks: Map<string, Network>, sandboxes: Map<string, Sandbox>, held: Held, report: Reporter): void {
  const members = new Map<string, Endpoint[]>();
  for (const sb of sandboxes.values()) {
    for (const ep of sb.endpoints) {
      const list = members.get(ep.network);
      if (list) list.push(ep);
      else members.set(ep.network, [ep]);
    }
  }
  for (const net of networks.values()) {
    for (const subnet of net.subnets) allocateSubnet(p, { net, subnet, members: members.get(net.name) ?? [], gatewayIn: !net.gatewayless, held, report });
  }
}

interface SubnetAllocation {
  net: Network;
  subnet: Subnet;
  members: readonly Endpoint[];
  /** The network keeps its gateway address out of allocation. */
  gatewayIn: boolean;
  held: Held;
  report: Reporter;
}

/** The address an endpoint holds now in the subnet, when it is still valid and free. */
function heldAddress(held: Held, ep: Endpoint, cidr: Cidr, taken: ReadonlySet<bigint>): bigint | undefined {
  for (const text of held.endpoints?.get(ep.address) ?? []) {
    const h = parseCidr(text, false);
    const ip = parseIp(text.split('/')[0]!);
    if (!h || !ip || ip.family !== cidr.family || h.prefixLength !== cidr.prefixLength) continue;
    if (!contains(cidr, cidr.family, ip.value) || taken.has(ip.value)) continue;
    // (A held Subnet-Router anycast address, handed out by older versions, is kept: never renumber.)
    if (ip.value === networkAddress(cidr) || ip.value === broadcastAddress(cidr)) continue;
    return ip.value;
  }
  return undefined;
}

function allocateSubnet(p: Prepared, a: SubnetAllocation): void {
  const { net, subnet, members } = a;
  const cidr = parseCidr(subnet.cidr)!;
  const family = subnet.family;
  // A network without a gateway (a p2p link) gives every address to its ends.
  const gateway = a.gatewayIn ? [parseIp(subnet.gateway)!.value] : [];
  const taken = new Set<bigint>([...gateway, ...subnet.reserved.map((r) => parseIp(r)!.value)]);
  const chosen = new Map<Endpoint, { value: bigint; static: boolean }>();
  const choose = (ep: Endpoint, value: bigint, isStatic: boolean) => {
    chosen.set(ep, { value, static: isStatic });
    taken.add(value);
  };
  const preparedOf = (ep: Endpoint) => p.sandboxes.get(ep.sandbox)!.endpoints.find((e) => e.address === ep.address)!;
  // 1. static addresses
  for (const ep of members) {
    const ip = preparedOf(ep).ips.find((i) => i.family === family);
    if (ip?.value !== undefined) choose(ep, ip.value, true);
  }
  // 2. addresses endpoints hold now, when still valid
  for (const ep of members) {
    const value = chosen.has(ep) ? undefined : heldAddress(a.held, ep, cidr, taken);
    if (value !== undefined) choose(ep, value, false);
  }
  // 3. new addresses, in file order
  const allocator = new PoolAllocator(parseCidr(subnet.ipRange)!, cidr, taken);
  for (const ep of members) {
    if (chosen.has(ep)) continue;
    const value = allocator.next();
    if (value !== undefined) {
      choose(ep, value, false);
      continue;
    }
    a.report.error('pool-exhausted', `no free IPv${family} address left in ${subnet.ipRange} of network "${net.name}" for ${ep.address}`, [...preparedOf(ep).path, 'network'], {
      resource: ep.address,
      hint: 'widen ipRange or the subnet, or give the endpoint a static ip',
    });
  }
  for (const [ep, c] of chosen) {
    ep.addresses.push(`${formatIp(family, c.value)}/${cidr.prefixLength}`);
    ep.static.push(c.static);
  }
}
