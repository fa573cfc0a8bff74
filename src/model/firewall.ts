// Isolation, internal networks and published ports (issue 15), as the file says them: the
// port forms, the semantic rules (with the file's positions) and the normalized `Firewall` the
// planner expands into rules of tsnet's nftables table (src/appliers/firewall.ts).
//
// Only networks routed through the host take part: a driver with a bridge and the gateway on
// the host (a bridge network with its gateway); macvlan, p2p and L2-only bridges never pass
// through the host's forwarding, so there is nothing to filter there.
import { formatIp, parseIp } from './addresses.js';
import { findDriver } from '../appliers/registry.js';
import type { RawNetwork } from '../appliers/driver.js';
import { nearest } from './diagnostics.js';
import type { Prepared, PreparedNetwork, PreparedSandbox } from './prepare.js';
import type { Reporter, Rule } from './rules.js';
import { pathToPointer, type PathSegment } from './source.js';
import type { Family, Network, Sandbox } from './types.js';
import { parsePort } from '../check/spec.js';

export type Proto = 'tcp' | 'udp';

/** A `ports:` entry as parsed: Docker's `[IP:]HOSTPORT:PORT[/PROTO]`. */
export interface Publish {
  /** The host address (canonical); undefined: every address of the host but loopback. */
  hostIp?: string;
  /** Set with `hostIp`, and for the wildcards 0.0.0.0 and [::] (every address of one family). */
  family?: Family;
  /** 0.0.0.0 or [::]: every address of that family. */
  wildcard?: boolean;
  hostPort: number;
  port: number;
  proto: Proto;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const PORT_MAX = 65535;
const SHAPE = 'write "8080:80", "127.0.0.1:5353:53/udp" or "[2001:db8::1]:8443:443/tcp"';

const portNumber = (text: string): number | undefined => {
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 && n <= PORT_MAX ? n : undefined;
};

/** Parses one `ports:` entry. */
export function parsePublish(text: string): Parsed<Publish> {
  const t = text.trim();
  const m = /^(?:(\[[^\]]*\]|[^:[\]]+):)?([^:]+):([^:/]+)(?:\/([A-Za-z]+))?$/.exec(t);
  if (!m) {
    if (/^\d+(\/\w+)?$/.test(t)) return { ok: false, message: `port "${t}" names no host port: tsnet publishes no port the kernel picks; ${SHAPE}` };
    return { ok: false, message: `"${t}" is not a published port: ${SHAPE}` };
  }
  const [, ipText, hostText, portText, protoText] = m as unknown as [string, string | undefined, string, string, string | undefined];
  if (/-/.test(hostText) || /-/.test(portText)) return { ok: false, message: `"${t}": port ranges are not supported; publish each port on its own` };
  const hostPort = portNumber(hostText);
  const port = portNumber(portText);
  if (hostPort === undefined) return { ok: false, message: `"${t}": host port "${hostText}" is not a port in 1..${PORT_MAX}` };
  if (port === undefined) return { ok: false, message: `"${t}": port "${portText}" is not a port in 1..${PORT_MAX}` };
  const proto = (protoText ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') return { ok: false, message: `"${t}": protocol "${protoText}" is not tcp or udp` };
  const value: Publish = { hostPort, port, proto };
  if (ipText === undefined) return { ok: true, value };
  const bracketed = ipText.startsWith('[');
  const ip = parseIp(bracketed ? ipText.slice(1, -1) : ipText);
  if (!ip || (ip.family === 6) !== bracketed) {
    return { ok: false, message: `"${t}": "${ipText}" is not a host address (IPv4 as 127.0.0.1, IPv6 in brackets as [::1])` };
  }
  const canonical = formatIp(ip.family, ip.value);
  if (ip.value === 0n) return { ok: true, value: { ...value, family: ip.family, wildcard: true } };
  return { ok: true, value: { ...value, hostIp: canonical, family: ip.family } };
}

export const isLoopback = (ip: string): boolean => ip === '::1' || /^127\./.test(ip);

/** The text of a publish's host side: "8080/tcp", "127.0.0.1:5353/udp", "[::1]:8443/tcp". */
export function hostSide(p: Publish): string {
  const at = p.wildcard ? (p.family === 6 ? '[::]:' : '0.0.0.0:') : p.hostIp === undefined ? '' : p.family === 6 ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${at}${p.hostPort}/${p.proto}`;
}

/** Two publishes of the host side that the same packet would match. */
export function sameHostSide(a: Publish, b: Publish): boolean {
  if (a.hostPort !== b.hostPort || a.proto !== b.proto) return false;
  const covers = (all: Publish, one: Publish) => all.hostIp === undefined && (all.family === undefined || all.family === one.family) && (one.hostIp === undefined || !isLoopback(one.hostIp));
  if (a.hostIp !== undefined && b.hostIp !== undefined) return a.hostIp === b.hostIp;
  if (a.hostIp === undefined && b.hostIp === undefined) return a.family === undefined || b.family === undefined || a.family === b.family;
  return covers(a, b) || covers(b, a);
}

// ------------------------------------------------------------------ which networks take part

/** A network routed through the host: its driver makes a bridge there that holds its gateway. */
export function routedNetwork(net: Pick<PreparedNetwork, 'raw'>): boolean {
  const d = findDriver(net.raw.driver);
  return !!d && d.model.gatewayOnHost && d.model.gatewayIn(net.raw as RawNetwork) && !!d.model.bridge;
}

const isInternal = (net: Pick<PreparedNetwork, 'raw'>): boolean => (net.raw as { internal?: boolean }).internal === true;

/** The networks of a sandbox that route through the host, in endpoint order. */
const routedEndpoints = (p: Prepared, sb: PreparedSandbox) => sb.endpoints.filter((ep) => {
  const net = p.networks.get(ep.raw.network);
  return net !== undefined && routedNetwork(net);
});

// ------------------------------------------------------------------ rules

type AllowEndRaw = { kind: 'network' | 'sandbox'; name: string };

/** What `from`/`to` of an allow names: a network or a sandbox (never both: that is ambiguous). */
function resolveEnd(p: Prepared, r: Reporter, name: string, path: PathSegment[], res: string): AllowEndRaw | undefined {
  const net = p.networks.get(name);
  const sb = p.sandboxes.get(name);
  if (net && sb) {
    r.error('ambiguous-name', `"${name}" names both a network and a sandbox`, path, { resource: res, hint: 'rename one of them' });
    return undefined;
  }
  if (net) {
    if (!routedNetwork(net)) {
      r.error('allow-not-routed', `network "${name}" does not route through the host (only bridge networks with a gateway do), so there is nothing to allow`, path, { resource: res });
      return undefined;
    }
    return { kind: 'network', name };
  }
  if (sb) {
    if (!routedEndpoints(p, sb).length) {
      r.error('allow-not-routed', `sandbox "${name}" has no endpoint on a network routed through the host (a bridge network with a gateway)`, path, { resource: res });
      return undefined;
    }
    return { kind: 'sandbox', name };
  }
  if (p.broken.networks.has(name) || p.broken.sandboxes.has(name)) return undefined;
  const hint = nearest(name, [...p.networks.keys(), ...p.sandboxes.keys()]);
  r.error('unknown-name', `"${name}" is neither a network nor a sandbox`, path, { resource: res, ...(hint ? { hint: `did you mean "${hint}"?` } : {}) });
  return undefined;
}

/** The networks an allow's end is on. */
const endNetworks = (p: Prepared, e: AllowEndRaw): string[] =>
  e.kind === 'network' ? [e.name] : routedEndpoints(p, p.sandboxes.get(e.name)!).map((ep) => ep.raw.network);

/** Whether the schema refused something at or under a JSON pointer (its rules then stay quiet). */
const brokenAt = (p: Prepared, pointer: string) => [...p.broken.paths].some((b) => b === pointer || b.startsWith(`${pointer}/`) || pointer.startsWith(`${b}/`));

export const allowRules: Rule = (p, r) => {
  const seen = new Map<string, number>();
  const list = p.file?.allow;
  if (!Array.isArray(list)) return;
  list.forEach((a, i) => {
    const path: PathSegment[] = ['allow', i];
    if (brokenAt(p, `/allow/${i}`)) return;
    const res = `allow.${a.from}.${a.to}`;
    const from = resolveEnd(p, r, a.from, [...path, 'from'], res);
    const to = resolveEnd(p, r, a.to, [...path, 'to'], res);
    let port = '';
    if (a.port !== undefined) {
      const parsed = parsePort(a.port);
      if (!parsed.ok) r.error('bad-port', `allow ${a.from} -> ${a.to}: ${parsed.message}`, [...path, 'port'], { resource: res });
      else port = `${parsed.value.number}/${parsed.value.proto}`;
    }
    if (!from || !to) return;
    const key = `${a.from} ${a.to} ${port}`;
    const first = seen.get(key);
    if (first !== undefined) r.error('duplicate-allow', `allow ${a.from} -> ${a.to}${port ? ` ${port}` : ''} repeats allow entry ${first + 1}`, path, { resource: res });
    seen.set(key, i);
    const fromNets = endNetworks(p, from);
    const toNets = endNetworks(p, to);
    if (fromNets.every((f) => toNets.every((t) => f === t))) {
      r.error('allow-same-network', `allow ${a.from} -> ${a.to}: both are on the same network, whose traffic never passes the host's forwarding`, path, { resource: res });
      return;
    }
    const filtered = p.file.isolation === true || [...fromNets, ...toNets].some((n) => isInternal(p.networks.get(n)!));
    if (!filtered) r.warning('allow-without-effect', `allow ${a.from} -> ${a.to} has no effect: nothing drops this traffic without "isolation: true" or an internal network`, path, { resource: res });
  });
};

export const portRules: Rule = (p, r) => {
  const published: { sandbox: string; publish: Publish; text: string; path: PathSegment[] }[] = [];
  for (const sb of p.sandboxes.values()) {
    const ports = sb.raw.ports ?? [];
    if (!Array.isArray(ports) || !ports.length || brokenAt(p, pathToPointer([...sb.path, 'ports']))) continue;
    const res = `sandbox.${sb.name}`;
    const routed = routedEndpoints(p, sb);
    const first = routed[0] ? p.networks.get(routed[0].raw.network) : undefined;
    if (!first) {
      r.error('ports-without-bridge', `sandbox "${sb.name}" publishes ports but has no endpoint on a bridge network with a gateway on the host, where they would be forwarded to`, [...sb.path, 'ports'], { resource: res, key: true });
    } else if (isInternal(first)) {
      r.error('ports-internal', `sandbox "${sb.name}" publishes ports on network "${first.name}", which is internal (nothing may reach it from outside)`, [...sb.path, 'ports'], { resource: res, key: true, hint: 'publish through an endpoint on a network that is not internal, listed first' });
    }
    ports.forEach((text, i) => {
      const path = [...sb.path, 'ports', i];
      const parsed = parsePublish(text);
      if (!parsed.ok) {
        r.error('bad-port', parsed.message, path, { resource: res });
        return;
      }
      const v = parsed.value;
      if (v.hostIp === '::1') {
        r.error('ipv6-loopback-port', `"${text}": Linux cannot publish a port on [::1] with NAT (it drops the replies to ::1 that come back through the bridge; IPv4 has route_localnet for this, IPv6 has nothing alike)`, path, {
          resource: res,
          hint: 'publish on [::] or on one of the host\'s own IPv6 addresses, or on 127.0.0.1',
        });
        return;
      }
      const families = first ? new Set(first.subnets.map((s) => s.cidr.family)) : undefined;
      if (families && v.family !== undefined && !families.has(v.family)) {
        r.error('port-family', `"${text}": network "${first!.name}" has no IPv${v.family} subnet, so sandbox "${sb.name}" has no IPv${v.family} address to forward to`, path, { resource: res });
        return;
      }
      published.push({ sandbox: sb.name, publish: v, text, path });
    });
  }
  published.forEach((a, i) => {
    const clash = published.slice(0, i).find((b) => sameHostSide(a.publish, b.publish));
    if (!clash) return;
    const who = clash.sandbox === a.sandbox ? `sandbox "${a.sandbox}" already publishes it` : `sandbox "${clash.sandbox}" publishes it too`;
    r.error('port-conflict', `host port ${hostSide(a.publish)} ("${a.text}") is taken twice: ${who} ("${clash.text}")`, a.path, { resource: `sandbox.${a.sandbox}` });
  });
};

export const FIREWALL_RULES: readonly Rule[] = [allowRules, portRules];

// ------------------------------------------------------------------ normalized

/** One side of an allow, on one network: its bridge, and the addresses (null: the whole network). */
export interface AllowAt {
  network: string;
  bridge: string;
  /** The sandbox's addresses on that network (no prefix); null for a whole network. */
  addresses: string[] | null;
  /** The families the network has. */
  families: Family[];
}

export interface AllowRule {
  /** Resource address: "allow.front.back.5432/tcp" ("allow.front.back" without a port). */
  address: string;
  from: string;
  to: string;
  fromAt: AllowAt[];
  toAt: AllowAt[];
  port?: { number: number; proto: Proto };
}

export interface PublishedPort extends Publish {
  /** Resource address: "port.web.8080/tcp", "port.web.127.0.0.1:5353/udp". */
  address: string;
  sandbox: string;
  host: string;
  network: string;
  bridge: string;
  /** The sandbox's addresses on the network that the port forwards to, one per family it serves. */
  targets: { family: Family; ip: string }[];
}

/** A network that takes part: routed through the host. */
export interface FirewallNetwork {
  name: string;
  bridge: string;
  hosts: string[];
  internal: boolean;
  families: Family[];
}

export interface Firewall {
  /** Forwarding between the topology's routed networks is dropped (Docker's default). */
  isolation: boolean;
  networks: FirewallNetwork[];
  allow: AllowRule[];
  ports: PublishedPort[];
}

const stripPrefix = (a: string) => a.split('/')[0]!;

/** The firewall of a normalized topology; undefined when the file asks for none of it. */
export function firewallOf(p: Prepared, networks: ReadonlyMap<string, Network>, sandboxes: ReadonlyMap<string, Sandbox>): Firewall | undefined {
  const routed = [...p.networks.values()].filter(routedNetwork).map((net): FirewallNetwork => {
    const n = networks.get(net.name)!;
    return { name: net.name, bridge: net.bridge!, hosts: n.hosts, internal: isInternal(net), families: [...new Set(n.subnets.map((s) => s.family))] };
  });
  const byName = new Map(routed.map((n) => [n.name, n]));
  const atOf = (name: string): AllowAt[] => {
    const net = byName.get(name);
    if (net) return [{ network: net.name, bridge: net.bridge, addresses: null, families: net.families }];
    const sb = sandboxes.get(name)!;
    return sb.endpoints.flatMap((ep) => {
      const n = byName.get(ep.network);
      return n ? [{ network: n.name, bridge: n.bridge, addresses: ep.addresses.map(stripPrefix), families: n.families }] : [];
    });
  };
  const allow = (p.file.allow ?? []).map((a): AllowRule => {
    const port = a.port === undefined ? undefined : parsePort(a.port);
    const value = port?.ok ? port.value : undefined;
    return { address: `allow.${a.from}.${a.to}${value ? `.${value.number}/${value.proto}` : ''}`, from: a.from, to: a.to, fromAt: atOf(a.from), toAt: atOf(a.to), ...(value ? { port: value } : {}) };
  });
  const ports: PublishedPort[] = [];
  for (const sb of sandboxes.values()) {
    const raw = p.sandboxes.get(sb.name)?.raw.ports ?? [];
    const ep = sb.endpoints.find((e) => byName.has(e.network));
    if (!ep) continue;
    const net = byName.get(ep.network)!;
    for (const text of raw) {
      const parsed = parsePublish(text);
      if (!parsed.ok) continue;
      const v = parsed.value;
      const targets = ep.addresses.map((a) => ({ family: (a.includes(':') ? 6 : 4) as Family, ip: stripPrefix(a) })).filter((t) => v.family === undefined || t.family === v.family);
      // One target per family: the first address of each.
      const perFamily = targets.filter((t, i) => targets.findIndex((o) => o.family === t.family) === i);
      ports.push({ ...v, address: `port.${sb.name}.${hostSide(v)}`, sandbox: sb.name, host: sb.host, network: net.name, bridge: net.bridge, targets: perFamily });
    }
  }
  const isolation = p.file.isolation === true;
  if (!isolation && !allow.length && !ports.length && !routed.some((n) => n.internal)) return undefined;
  return { isolation, networks: routed, allow, ports };
}

/** Host sysctls the firewall reads: route_localnet of every routed bridge (set for ports on 127.0.0.1). */
export const firewallHostSysctls = (t: { firewall?: Firewall }): string[] => (t.firewall?.networks ?? []).map((n) => `net.ipv4.conf.${n.bridge}.route_localnet`);
