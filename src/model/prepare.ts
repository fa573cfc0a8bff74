// A lenient, resolved view of a topology file for the semantic rules and for normalize():
// names defaulted, subnets parsed, references looked up, each item remembering its JSON path.
// Parts that failed the schema are left out (rules must not pile more errors on them), but
// their names are kept so that references to them are not reported as unknown.
import { firstHost, parseCidr, parseIp, type Cidr } from './addresses.js';
import type { RawNetwork } from '../appliers/driver.js';
import { findDriver } from '../appliers/registry.js';
import { netnsName } from './names.js';
import { pointerToPath, valueAt, type PathSegment } from './source.js';
import {
  IMPLICIT_HOST,
  type EndpointFile,
  type Family,
  type HostFile,
  type NetworkFile,
  type SandboxFile,
  type SandboxMode,
  type TopologyFile,
  type Via,
} from './types.js';

export interface PreparedSubnet {
  cidr: Cidr;
  text: string;
  index: number;
  /** Gateway as an integer, when given and parseable, or the default first address. */
  gateway: bigint;
  gatewayGiven: boolean;
  ipRange?: Cidr;
}

export interface PreparedNetwork {
  name: string;
  raw: NetworkFile;
  path: PathSegment[];
  subnets: PreparedSubnet[];
  /** Kernel name of the network's bridge, for drivers that make one. */
  bridge?: string;
  /** True when the file names the bridge itself (`bridge:`). */
  bridgeGiven?: boolean;
}

export interface PreparedEndpoint {
  sandbox: string;
  index: number;
  raw: EndpointFile;
  path: PathSegment[];
  ifname: string;
  address: string;
  /** Static addresses as written, parsed where possible. */
  ips: { text: string; family?: Family; value?: bigint; index: number }[];
}

export interface PreparedSandbox {
  name: string;
  raw: SandboxFile;
  path: PathSegment[];
  mode: SandboxMode;
  host: string;
  endpoints: PreparedEndpoint[];
  /** Namespace name when the sandbox has its own namespace. */
  netns?: string;
}

export interface PreparedHost {
  name: string;
  raw?: HostFile;
  path: PathSegment[];
  via: Via;
}

export interface Prepared {
  name: string;
  file: TopologyFile;
  implicitHost: boolean;
  hosts: Map<string, PreparedHost>;
  networks: Map<string, PreparedNetwork>;
  sandboxes: Map<string, PreparedSandbox>;
  /**
   * What failed the schema. `networks`, `sandboxes`, `hosts`: names of entries left out because
   * their shape is wrong (references to them are not reported as unknown). `sections`: true when
   * a whole section is not a mapping, so that no name under it can be known. `paths`: the JSON
   * pointer of every schema error, including those on fields whose entry was kept (a bad
   * interface name leaves its sandbox's shape intact), so rules do not report them again.
   */
  broken: {
    networks: Set<string>;
    sandboxes: Set<string>;
    hosts: Set<string>;
    sections: { hosts: boolean; networks: boolean; sandboxes: boolean };
    paths: Set<string>;
  };
}

export function parseVia(via: string): Via {
  if (via.startsWith('ssh ')) return { kind: 'ssh', destination: via.slice(4) };
  if (via.startsWith('netns ')) return { kind: 'netns', netns: via.slice(6) };
  return { kind: 'local' };
}

export function parseMode(mode: string | undefined): SandboxMode {
  if (mode === 'none') return { kind: 'none' };
  if (mode === 'host') return { kind: 'host' };
  if (mode?.startsWith('container:')) return { kind: 'container', target: mode.slice('container:'.length) };
  return { kind: 'own' };
}

export const asList = (v: string | readonly string[] | undefined): string[] =>
  v === undefined ? [] : typeof v === 'string' ? [v] : [...v];

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);


/**
 * True when a schema error at `pointer` leaves the shape the rules rely on intact: a string
 * field that failed its pattern (interface, bridge, parent and namespace names), a macvlan mode,
 * or anything inside a sysctls mapping. The entry is kept, so its other problems are found in the
 * same run; fields that steer other rules (driver, mode of a sandbox, via, host) are not leaves.
 */
function isLeafProblem(file: unknown, pointer: string): boolean {
  const path = pointerToPath(pointer);
  const value = valueAt(file, path);
  if (/^\/sandboxes\/[^/]+\/endpoints\/\d+\/name$/.test(pointer)) return typeof value === 'string';
  if (/^\/sandboxes\/[^/]+\/netns$/.test(pointer)) return typeof value === 'string';
  if (/^\/sandboxes\/[^/]+\/sysctls(\/.*)?$/.test(pointer)) return isMapping(valueAt(file, path.slice(0, 3)));
  if (/^\/networks\/[^/]+\/[^/]+$/.test(pointer)) {
    // The network's driver says which of its fields may be wrong while the rest is checked.
    const leaf = findDriver(valueAt(file, [...path.slice(0, 2), 'driver']))?.model.leafKeys[String(path[2])];
    return leaf === 'any' || (leaf === 'string' && typeof value === 'string');
  }
  return false;
}

/** Which top-level entries the shape-breaking errors fall under. */
function brokenNames(file: unknown, brokenPaths: readonly string[], top: string): Set<string> {
  const names = new Set<string>();
  for (const p of brokenPaths) {
    const m = new RegExp(`^/${top}/([^/]+)`).exec(p);
    if (m && !isLeafProblem(file, p)) names.add(m[1]!.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return names;
}

export function prepare(file: TopologyFile, brokenPaths: readonly string[] = []): Prepared {
  const sectionBroken = (key: 'hosts' | 'networks' | 'sandboxes') => {
    const v: unknown = isMapping(file) ? file[key] : undefined;
    return v !== undefined && !isMapping(v);
  };
  const broken = {
    networks: brokenNames(file, brokenPaths, 'networks'),
    sandboxes: brokenNames(file, brokenPaths, 'sandboxes'),
    hosts: brokenNames(file, brokenPaths, 'hosts'),
    sections: { hosts: sectionBroken('hosts'), networks: sectionBroken('networks'), sandboxes: sectionBroken('sandboxes') },
    paths: new Set(brokenPaths),
  };
  const name = typeof file?.name === 'string' && !brokenPaths.includes('/name') ? file.name : 'topology';
  const implicitHost = !isMapping(file?.hosts) || Object.keys(file.hosts).length === 0;
  const rootBroken = brokenPaths.some((p) => p === '' || /^\/(name|version|hosts|networks|sandboxes)$/.test(p));
  const hosts = prepareHosts(file, { implicitHost, rootBroken, broken: broken.hosts });
  return { name, file, implicitHost, hosts, networks: prepareNetworks(file, broken.networks), sandboxes: prepareSandboxes(file, name, hosts, broken), broken };
}

function prepareHosts(file: TopologyFile, o: { implicitHost: boolean; rootBroken: boolean; broken: ReadonlySet<string> }): Map<string, PreparedHost> {
  const hosts = new Map<string, PreparedHost>();
  if (o.implicitHost) {
    hosts.set(IMPLICIT_HOST, { name: IMPLICIT_HOST, path: [], via: { kind: 'local' } });
  } else if (!o.rootBroken || isMapping(file.hosts)) {
    for (const [h, raw] of Object.entries(file.hosts ?? {})) {
      if (o.broken.has(h)) continue;
      hosts.set(h, { name: h, raw, path: ['hosts', h], via: parseVia(raw.via) });
    }
  }
  return hosts;
}

/** A network's subnets as written, each with its gateway and range where given. */
function subnetsOf(raw: NetworkFile): PreparedSubnet[] {
  const subnets: PreparedSubnet[] = [];
  const gateways = asList(raw.gateway).map((g) => parseIp(g)).filter((g) => g !== undefined);
  const ranges = asList(raw.ipRange).map((r) => parseCidr(r, false)).filter((r) => r !== undefined);
  asList(raw.subnet).forEach((text, index) => {
    const cidr = parseCidr(text, true);
    if (!cidr) return;
    const gw = gateways.find((g) => g.family === cidr.family);
    const range = ranges.find((r) => r.family === cidr.family);
    subnets.push({ cidr, text, index, gateway: gw?.value ?? firstHost(cidr), gatewayGiven: gw !== undefined, ...(range ? { ipRange: range } : {}) });
  });
  return subnets;
}

function prepareNetworks(file: TopologyFile, broken: ReadonlySet<string>): Map<string, PreparedNetwork> {
  const networks = new Map<string, PreparedNetwork>();
  if (!isMapping(file?.networks)) return networks;
  for (const [n, raw] of Object.entries(file.networks)) {
    if (broken.has(n)) continue;
    const bridge = findDriver(raw.driver)?.model.bridge?.(n, raw as RawNetwork);
    networks.set(n, { name: n, raw, path: ['networks', n], subnets: subnetsOf(raw), ...(bridge ? { bridge: bridge.name, bridgeGiven: bridge.given } : {}) });
  }
  return networks;
}

function prepareEndpoints(sandbox: string, raw: SandboxFile): PreparedEndpoint[] {
  return (raw.endpoints ?? []).map((ep, index) => {
    const ifname = ep.name ?? `eth${index}`;
    return {
      sandbox,
      index,
      raw: ep,
      path: ['sandboxes', sandbox, 'endpoints', index],
      ifname,
      address: `endpoint.${sandbox}.${ifname}`,
      ips: asList(ep.ip).map((text, i) => {
        const ip = parseIp(text);
        return ip ? { text, family: ip.family, value: ip.value, index: i } : { text, index: i };
      }),
    };
  });
}

function prepareSandboxes(file: TopologyFile, topology: string, hosts: ReadonlyMap<string, PreparedHost>, broken: Prepared['broken']): Map<string, PreparedSandbox> {
  const sandboxes = new Map<string, PreparedSandbox>();
  if (!isMapping(file?.sandboxes)) return sandboxes;
  const defaultHost = [...hosts.keys()][0] ?? IMPLICIT_HOST;
  for (const [s, raw] of Object.entries(file.sandboxes)) {
    if (broken.sandboxes.has(s)) continue;
    const mode = parseMode(raw.mode);
    // With one host, a sandbox need not name it; a host left out as broken still counts.
    const host = raw.host ?? (hosts.size === 1 && broken.hosts.size === 0 ? defaultHost : '');
    const ownsNetns = mode.kind === 'own' || mode.kind === 'none';
    // An external sandbox's namespace is the one it names; a pid's is reached under the default name while tsnet runs.
    const netns = raw.external ? (raw.pid !== undefined ? netnsName(topology, s) : raw.netns) : ownsNetns ? (raw.netns ?? netnsName(topology, s)) : undefined;
    sandboxes.set(s, { name: s, raw, path: ['sandboxes', s], mode, host, endpoints: prepareEndpoints(s, raw), ...(netns !== undefined ? { netns } : {}) });
  }
  return sandboxes;
}

/** The hosts on which a network has kernel objects: those of its endpoints' sandboxes. */
export function networkHosts(p: Prepared, network: string): string[] {
  const onHosts = new Set<string>();
  for (const sb of p.sandboxes.values()) {
    if (sb.endpoints.some((e) => e.raw.network === network) && p.hosts.has(sb.host)) onHosts.add(sb.host);
  }
  const ordered = [...p.hosts.keys()].filter((h) => onHosts.has(h));
  // A network whose driver makes it without endpoints (as `docker network create` does) is on the first host.
  const net = p.networks.get(network);
  if (ordered.length === 0 && findDriver(net?.raw.driver)?.model.withoutEndpoints) return [...p.hosts.keys()].slice(0, 1);
  return ordered;
}

