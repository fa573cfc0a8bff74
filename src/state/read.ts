// Reading the live state: one `ip -d -json -batch -` per namespace (links with details and
// addresses, then routes), namespaces read in parallel, each machine's namespaces read once.
// Whatever cannot be read is an error naming it, never "absent".
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { canonicalIp, formatCidr, parseCidr } from '../model/addresses.js';
import { linkDetails } from '../appliers/registry.js';
import { runInNamespaces } from './fanout.js';
import { readFiles, namesPaths, type KFile } from './files.js';
import { readNat, type NatRead } from './nft.js';
import { readListeners } from './listeners.js';
import { parseMark } from './ownership.js';
import { deviceQdiscs, isDefaultQdiscKind, parseTcQdiscs, TC_SHOW_ARGV } from './tc.js';
import type { RunResult, Runner } from './runner.js';
import { emptyNamespace, type Family, type HostState, type KAddress, type KFdb, type KLink, type KNamespace, type KNeigh, type KRoute, type LiveState } from './types.js';

/**
 * The batch lines that read a namespace; their JSON arrays come back one per line. `link show`
 * is needed besides `addr show`: only it prints inet6_addr_gen_mode.
 */
export const READ_LINES = ['link show', 'addr show', 'route show table all'] as const;
/** Extra line for hosts with overlay networks: the neighbour entries. */
export const NEIGH_LINE = 'neigh show nud permanent';
/** Flags every reading batch runs with. */
export const READ_FLAGS = ['-d', '-json'] as const;

export class StateReadError extends Error {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(message);
    this.name = 'StateReadError';
  }
}

export interface ReadOptions {
  /** Sysctls to read, by namespace name (null key: the host's own stack). */
  sysctls?: ReadonlyMap<string, readonly string[]>;
  /** Hosts whose own stack also needs neighbour and bridge fdb entries (overlay networks). */
  overlayHosts?: ReadonlySet<string>;
  /** Which named namespaces to read; default all. Unread namespaces are absent from the result. */
  namespaces?: (name: string) => boolean;
  /** Parallel readers; default: the number of cores. */
  concurrency?: number;
  /**
   * Namespaces of this machine taken as they are from the state cache instead of being read
   * (`--no-refresh`; src/state/cache.ts). Only for hosts on this machine.
   */
  cached?: ReadonlyMap<string, KNamespace>;
  /** The topology's nftables table, read on every host (tsnet's NAT rules); unset: not read. */
  natTable?: string;
  /** Hosts whose listening sockets are read (the topology publishes ports there). */
  listenersOn?: ReadonlySet<string>;
  /**
   * The names files (/etc/netns/<namespace>/hosts, resolv.conf) to read: those of the
   * namespaces the topology names on each host, and of every namespace the topology owns on
   * the host's machine (its files go when it does). Unset: none read.
   */
  names?: { topology: string; namespaces: ReadonlyMap<string, readonly string[]> };
  /**
   * The topology whose links' qdiscs are read with tc: only in namespaces where one of its
   * links holds a qdisc other than the default (readQdiscs); unset: none are read.
   */
  qdiscsOf?: string;
}

/** Runs `tasks` with at most `limit` in flight, results in order. */
export async function pool<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

export const defaultConcurrency = (): number => Math.max(2, availableParallelism());

export async function readState(runners: readonly Runner[], opts: ReadOptions = {}): Promise<LiveState> {
  const concurrency = opts.concurrency ?? defaultConcurrency();
  // Named namespaces: once per machine.
  const byMachine = new Map<string, Runner>();
  for (const r of runners) if (!byMachine.has(r.machine)) byMachine.set(r.machine, r);
  const machineNamespaces = new Map<string, Map<string, KNamespace>>();
  // Each host's own stack is read while the machines' namespaces are.
  const roots = Promise.all(
    runners.map(async (runner) => {
      const [root, nat, listeners] = await Promise.all([
        readNamespace(runner, null, { sysctls: opts.sysctls?.get('') ?? [], entries: opts.overlayHosts?.has(runner.host) ?? false }),
        opts.natTable === undefined ? undefined : readNatOf(runner, opts.natTable),
        opts.listenersOn?.has(runner.host) ? readListenersOf(runner) : undefined,
      ]);
      return [runner.host, { root, nat, listeners }] as const;
    }),
  );
  // Awaited below; until then a failure must not count as unhandled (it would end the process).
  roots.catch(() => {});
  await Promise.all(
    [...byMachine.entries()].map(async ([machine, runner]) => {
      let names: string[];
      try {
        names = await runner.listNetns();
      } catch (err) {
        const e = err as Error;
        throw new StateReadError(runner.host, e.name === 'SshError' ? e.message : `cannot list the namespaces of host "${runner.host}" (${runner.describe}): ${e.message}`);
      }
      // Namespaces that stand for hosts are read as those hosts' own stacks, not as sandboxes.
      const hostNetns = new Set(runners.flatMap((r) => ('netns' in r && r.machine === machine ? [(r as { netns: string }).netns] : [])));
      const wanted = names.filter((n) => !hostNetns.has(n) && (opts.namespaces?.(n) ?? true));
      const cached = machine === 'local' ? opts.cached : undefined;
      const read = await readNamespaces(runner, wanted.filter((n) => !cached?.has(n)), concurrency, opts.sysctls);
      const byName = new Map(read.map((ns) => [ns.name!, ns]));
      const namespaces = new Map(wanted.map((n) => [n, byName.get(n) ?? cached!.get(n)!]));
      if (machine === 'local') markInUse(namespaces);
      machineNamespaces.set(machine, namespaces);
    }),
  );
  const rootOf = new Map(await roots);
  if (opts.qdiscsOf !== undefined) {
    const jobs: QdiscJob[] = [];
    for (const r of runners) jobs.push({ runner: r, ns: rootOf.get(r.host)!.root });
    for (const [machine, runner] of byMachine) for (const ns of machineNamespaces.get(machine)!.values()) if (!opts.cached?.has(ns.name!)) jobs.push({ runner, ns });
    await readQdiscs(jobs, opts.qdiscsOf, concurrency);
  }
  const files = opts.names ? await Promise.all(runners.map((r) => readNamesFiles(r, opts.names!, machineNamespaces.get(r.machine)))) : [];
  // Keep the runners' order.
  return {
    hosts: new Map(
      runners.map((r, i) => {
        const { root, nat, listeners } = rootOf.get(r.host)!;
        const state: HostState = { host: r.host, root, namespaces: machineNamespaces.get(r.machine) ?? new Map(), ...(listeners ? { listeners } : {}) };
        if (nat) {
          state.nat = nat.table;
          if (nat.unavailable) state.natUnavailable = nat.unavailable;
        }
        if (files[i]) state.files = files[i];
        return [r.host, state];
      }),
    ),
  };
}

/** The names files of a host: of the namespaces the topology names there, and of those it owns on the machine. */
export function readNamesFiles(runner: Runner, names: NonNullable<ReadOptions['names']>, namespaces: ReadonlyMap<string, KNamespace> | undefined): Promise<Map<string, KFile>> {
  const wanted = [...(names.namespaces.get(runner.host) ?? [])];
  for (const ns of namespaces?.values() ?? []) {
    if (parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias)?.topology === names.topology) wanted.push(ns.name!);
  }
  return readFiles(runner, namesPaths(wanted, names.topology));
}

async function readListenersOf(runner: Runner) {
  try {
    return await readListeners(runner);
  } catch (err) {
    throw new StateReadError(runner.host, (err as Error).message);
  }
}

/** The topology's nftables table on a host; an error naming the host when it cannot be read. */
export async function readNatOf(runner: Runner, table: string): Promise<NatRead> {
  try {
    return await readNat(runner, table);
  } catch (err) {
    const e = err as Error;
    throw new StateReadError(runner.host, e.name === 'SshError' ? e.message : `host "${runner.host}" (${runner.describe}): ${e.message}`);
  }
}

/**
 * Sets `inUse` on the namespaces of this machine that processes are in: the inode of
 * /run/netns/NAME against every process's /proc/PID/ns/net (one readlink each, no process).
 */
export function markInUse(namespaces: Map<string, KNamespace>, netnsDir = '/run/netns', proc = '/proc'): void {
  const byInode = new Map<number, KNamespace>();
  for (const [name, ns] of namespaces) {
    delete ns.inUse;
    try {
      const st = statSync(`${netnsDir}/${name}`);
      byInode.set(st.ino, ns);
      ns.created = st.ctimeMs;
    } catch {
      /* gone since it was listed */
    }
  }
  if (!byInode.size) return;
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((p) => /^\d+$/.test(p));
  } catch {
    return;
  }
  for (const pid of pids) {
    let link: string;
    try {
      link = readlinkSync(`${proc}/${pid}/ns/net`);
    } catch {
      continue; // gone, or not ours to read
    }
    const m = /^net:\[(\d+)\]$/.exec(link);
    const ns = m ? byInode.get(Number(m[1])) : undefined;
    if (ns) (ns.inUse ??= []).push(Number(pid));
  }
}

/** Reads many named namespaces of one machine: one `ip` process each, started by xargs workers. */
export async function readNamespaces(
  runner: Runner,
  names: readonly string[],
  concurrency: number,
  sysctls?: ReadonlyMap<string, readonly string[]>,
): Promise<KNamespace[]> {
  const input = `${READ_LINES.join('\n')}\n`;
  let results;
  try {
    results = await runInNamespaces(runner, READ_FLAGS, names.map((ns) => ({ ns, input, outputLines: READ_LINES.length })), concurrency);
  } catch (err) {
    throw new StateReadError(runner.host, (err as Error).message);
  }
  return pool(names, concurrency, async (name, i) => {
    const where = `namespace "${name}" on host "${runner.host}"`;
    const ns = dumpOf(runner, name, results[i]!, READ_LINES.length, where);
    const keys = sysctls?.get(name) ?? [];
    if (keys.length && !ns.leftover) ns.sysctls = await readSysctls(runner, name, keys, where);
    return ns;
  });
}

/**
 * What nsenter and `ip netns exec` say when /run/netns/NAME is a plain file (no namespace
 * mounted on it): setns() refuses the file with EINVAL.
 */
const NOT_A_NAMESPACE = /reassociate to namespace 'ns\/net' failed: Invalid argument|setting the network namespace "[^"]*" failed: Invalid argument/;

/** A namespace from what its reading `ip` printed; an error naming it when that went wrong. */
function dumpOf(runner: Runner, ns: string | null, res: RunResult, lines: number, where: string): KNamespace {
  // A leftover of a killed `ip netns add`: the planner decides (repair it, or a plan error).
  if (res.exitCode !== 0 && ns !== null && NOT_A_NAMESPACE.test(res.stderr)) return { ...emptyNamespace(ns), leftover: true };
  if (res.exitCode !== 0) throw new StateReadError(runner.host, `cannot read ${where}: ${oneLine(res.stderr) || `ip exited with ${res.exitCode}`}`);
  try {
    return parseDump(ns, res.stdout, lines);
  } catch (err) {
    throw new StateReadError(runner.host, `cannot read ${where}: ${(err as Error).message}`);
  }
}

/** What to read of a namespace besides links, addresses and routes. */
export interface NamespaceReading {
  sysctls?: readonly string[];
  /** Neighbour and forwarding entries too (hosts with overlay networks). */
  entries?: boolean;
}

export async function readNamespace(runner: Runner, ns: string | null, reading: NamespaceReading = {}): Promise<KNamespace> {
  const { sysctls = [], entries: overlay = false } = reading;
  const where = ns === null ? `the own stack of host "${runner.host}" (${runner.describe})` : `namespace "${ns}" on host "${runner.host}"`;
  const lines = overlay ? [...READ_LINES, NEIGH_LINE] : [...READ_LINES];
  let res;
  try {
    res = await runner.run(['ip', ...READ_FLAGS, '-batch', '-'], { ns, input: `${lines.join('\n')}\n` });
  } catch (err) {
    throw new StateReadError(runner.host, (err as Error).message);
  }
  const result = dumpOf(runner, ns, res, lines.length, where);
  if (overlay) result.fdb = await readFdb(runner, ns, where);
  if (sysctls.length) result.sysctls = await readSysctls(runner, ns, sysctls, where);
  return result;
}

async function readFdb(runner: Runner, ns: string | null, where: string): Promise<KFdb[]> {
  const res = await runner.run(['bridge', '-json', 'fdb', 'show'], { ns });
  if (res.exitCode !== 0) throw new StateReadError(runner.host, `cannot read the forwarding database of ${where}: ${oneLine(res.stderr)}`);
  return parseFdb(res.stdout);
}

export async function readSysctls(runner: Runner, ns: string | null, keys: readonly string[], where: string): Promise<Record<string, string>> {
  // -e: a key the kernel does not have is left out rather than failing the whole read.
  const res = await runner.run(['sysctl', '-e', ...keys], { ns });
  if (res.exitCode !== 0 && !res.stdout) throw new StateReadError(runner.host, `cannot read sysctls of ${where}: ${oneLine(res.stderr)}`);
  return parseSysctls(res.stdout);
}

export function parseSysctls(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf(' = ');
    if (eq > 0) out[line.slice(0, eq).trim().replace(/\//g, '.')] = line.slice(eq + 3).trim();
  }
  return out;
}

/** Parses the JSON arrays `ip -json -batch` printed for READ_LINES (and NEIGH_LINE). */
export function parseDump(ns: string | null, stdout: string, expected: number = READ_LINES.length): KNamespace {
  const arrays = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown[]);
  if (arrays.length < expected) throw new Error(`expected ${expected} JSON arrays from ip, got ${arrays.length}`);
  // The reads are the last lines of the output: an apply batch prints nothing before them.
  const tail = arrays.slice(arrays.length - expected);
  const [links, addrs, routes, neigh] = tail as [IpLink[], IpLink[], IpRoute[], IpNeigh[] | undefined];
  const addrInfo = new Map(addrs.map((a) => [a.ifindex, a.addr_info]));
  const result = emptyNamespace(ns);
  result.links = links.map((j) => parseLink({ ...j, addr_info: addrInfo.get(j.ifindex) ?? [] }, ns));
  result.routes = routes.map(parseRoute).filter((r): r is KRoute => r !== undefined);
  if (neigh) result.neigh = neigh.map(parseNeigh).filter((n): n is KNeigh => n !== undefined);
  return result;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  operstate?: string;
  mtu: number;
  address?: string;
  master?: string;
  ifalias?: string;
  link?: string | null;
  link_index?: number;
  link_netnsid?: number;
  inet6_addr_gen_mode?: string;
  qdisc?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: { hairpin?: boolean } };
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  flags?: string[];
}

interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}

export function parseLink(j: IpLink, ns: string | null): KLink {
  const kind = j.linkinfo?.info_kind ?? null;
  const data = j.linkinfo?.info_data ?? {};
  const addresses: KAddress[] = (j.addr_info ?? [])
    .filter((a) => a.family === 'inet' || a.family === 'inet6')
    .map((a) => ({
      family: (a.family === 'inet' ? 4 : 6) as Family,
      cidr: `${canonicalIp(a.local) ?? a.local}/${a.prefixlen}`,
      scope: a.scope,
    }));
  const link: KLink = {
    ifindex: j.ifindex,
    ifname: j.ifname,
    ns,
    kind,
    up: (j.flags ?? []).includes('UP'),
    mtu: j.mtu,
    mac: (j.address ?? '').toLowerCase(),
    addresses,
  };
  if (j.operstate) link.operstate = j.operstate;
  if (j.flags?.includes('NO-CARRIER')) link.noCarrier = true;
  if (j.master) link.master = j.master;
  // Only a bridge's ports have a hairpin mode.
  const hairpin = j.linkinfo?.info_slave_data?.hairpin;
  if (typeof hairpin === 'boolean') link.hairpin = hairpin;
  if (j.ifalias) link.alias = j.ifalias;
  if (j.inet6_addr_gen_mode) link.addrGenMode = j.inet6_addr_gen_mode;
  if (j.qdisc) link.qdisc = j.qdisc;
  if (typeof j.link === 'string') link.link = j.link;
  if (j.link_index !== undefined) link.linkIndex = j.link_index;
  if (j.link_netnsid !== undefined) link.linkNetnsId = j.link_netnsid;
  // The details of kinds a driver makes (src/appliers/registry.ts): its module reads them.
  const details = kind ? linkDetails(kind, data) : undefined;
  if (details) link.details = details;
  return link;
}

export function parseRoute(j: IpRoute): KRoute | undefined {
  if (j.table !== undefined && j.table !== 'main') return undefined;
  if (j.type !== undefined && j.type !== 'unicast') return undefined;
  const family: Family = j.dst.includes(':') || (j.gateway ?? '').includes(':') ? 6 : 4;
  let dst = j.dst;
  if (dst !== 'default') {
    const withLen = dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
    const cidr = parseCidr(withLen, false);
    dst = cidr ? formatCidr(cidr) : dst;
  }
  const route: KRoute = { family, dst };
  if (j.gateway) route.gateway = canonicalIp(j.gateway) ?? j.gateway;
  if (j.dev) route.dev = j.dev;
  if (j.protocol) route.protocol = j.protocol;
  if (j.scope) route.scope = j.scope;
  if (typeof j.metric === 'number') route.metric = j.metric;
  if (j.prefsrc) route.prefsrc = canonicalIp(j.prefsrc) ?? j.prefsrc;
  if (j.flags?.includes('onlink')) route.onlink = true;
  return route;
}

function parseNeigh(j: IpNeigh): KNeigh | undefined {
  if (!j.dst || !j.dev) return undefined;
  return {
    dst: canonicalIp(j.dst) ?? j.dst,
    dev: j.dev,
    ...(j.lladdr ? { lladdr: j.lladdr.toLowerCase() } : {}),
    permanent: (j.state ?? []).includes('PERMANENT'),
  };
}

export function parseFdb(stdout: string): KFdb[] {
  const text = stdout.trim();
  if (!text) return [];
  const entries = JSON.parse(text) as { mac: string; ifname?: string; dev?: string; dst?: string; state?: string; flags?: string[] }[];
  return entries
    .filter((e) => e.ifname ?? e.dev)
    .map((e) => ({
      mac: e.mac.toLowerCase(),
      dev: (e.ifname ?? e.dev)!,
      ...(e.dst ? { dst: canonicalIp(e.dst) ?? e.dst } : {}),
      permanent: e.state === 'permanent',
    }));
}

export const oneLine = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');

/** One namespace whose qdiscs may need reading, and the runner that reaches it. */
export interface QdiscJob {
  runner: Runner;
  ns: KNamespace;
}

/**
 * True when tc must read the namespace: one of the topology's links there holds a root qdisc
 * other than the kernel default (`ip -json link` says which kind each link holds). A namespace
 * whose links all hold the default needs no tc process: a topology that shapes nothing starts none.
 */
export const needsQdiscRead = (ns: KNamespace, topology: string): boolean =>
  ns.links.some((l) => l.ifname !== 'lo' && !isDefaultQdiscKind(l.qdisc ?? 'noop') && parseMark(l.alias)?.topology === topology);

/** Reads `tc -r -json qdisc show` where needsQdiscRead says so, and puts each owned link's qdiscs on it. */
export async function readQdiscs(jobs: readonly QdiscJob[], topology: string, concurrency = defaultConcurrency()): Promise<void> {
  const wanted = jobs.filter((j) => needsQdiscRead(j.ns, topology));
  await pool(wanted, concurrency, async ({ runner, ns }) => {
    const where = ns.name === null ? `the own stack of host "${runner.host}"` : `namespace "${ns.name}" on host "${runner.host}"`;
    const res = await runner.run(TC_SHOW_ARGV, { ns: ns.name });
    if (res.exitCode !== 0) throw new StateReadError(runner.host, `cannot read the qdiscs of ${where}: ${oneLine(res.stderr) || `tc exited with ${res.exitCode}`}`);
    const parsed = parseTcQdiscs(res.stdout);
    if (!parsed.ok) throw new StateReadError(runner.host, `cannot read the qdiscs of ${where}: ${parsed.error}`);
    for (const l of ns.links) if (parseMark(l.alias)?.topology === topology) l.qdiscs = deviceQdiscs(parsed.devices, l.ifname);
  });
}
