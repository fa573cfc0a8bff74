// What the names files of each sandbox say (pure, from the topology): `hosts` with the names of
// the sandboxes it shares a network with (Docker's per-network visibility), and `resolv.conf`
// from its `dns:`. The applier (names.ts) adds tsnet's marker line and writes them.
import type { ContentSpec, FileSpec } from '../planner/desired.js';
import { stableHash } from '../model/names.js';
import { namesPath, sharedPath, sharedTarget } from '../state/files.js';
import type { Sandbox, Topology } from '../model/types.js';

/** The lines Docker writes into every container's /etc/hosts before the containers' own. */
export const LOCALHOST_LINES = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

const bare = (cidr: string) => cidr.slice(0, cidr.indexOf('/'));

/**
 * What every sandbox's lines are made of, computed once per topology (a hosts file per sandbox,
 * each naming the sandboxes of its networks: the work grows with the square of the sandboxes
 * on a network, so nothing in it may grow faster): the names each sandbox answers to (its own,
 * and those of the container: sandboxes that share its namespace), the sandboxes in name order,
 * and each sandbox's lines per network.
 */
interface NamesIndex {
  sorted: Sandbox[];
  /** Per sandbox, in endpoint order: each endpoint's network and its lines. */
  linesOn: Map<Sandbox, { network: string; lines: string[] }[]>;
}

const indexes = new WeakMap<Topology, NamesIndex>();

function namesIndex(t: Topology): NamesIndex {
  const cached = indexes.get(t);
  if (cached) return cached;
  const names = new Map<string, string[]>();
  const key = (host: string, netns: string | null) => `${host}\u0000${netns ?? ''}`;
  for (const sb of t.sandboxes.values()) if (sb.mode.kind !== 'container') names.set(key(sb.host, sb.netns), [sb.name, `${sb.name}.${t.name}`]);
  for (const sb of t.sandboxes.values()) if (sb.mode.kind === 'container') names.get(key(sb.host, sb.netns))?.push(sb.name, `${sb.name}.${t.name}`);
  const linesOn: NamesIndex['linesOn'] = new Map();
  for (const sb of t.sandboxes.values()) {
    const joined = (names.get(key(sb.host, sb.netns)) ?? [sb.name, `${sb.name}.${t.name}`]).join(' ');
    linesOn.set(sb, sb.endpoints.map((ep) => ({ network: ep.network, lines: ep.addresses.map((a) => `${bare(a)}\t${joined}`) })));
  }
  const sorted = [...t.sandboxes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const index = { sorted, linesOn };
  indexes.set(t, index);
  return index;
}

/**
 * The host lines `sb` sees: the addresses of every sandbox others see (its own included, as
 * Docker's hosts files have the container's own line) on each of `sb`'s networks, the
 * sandboxes in name order, each in its endpoint order, every family. So every sandbox on the
 * same networks has the same lines, and the hosts files of a network share one body. A
 * sandbox on several shared networks has a line per address: `getent hosts` answers with the
 * first, on the first network they share in that sandbox's endpoint order (for its own name,
 * its first endpoint's).
 */
export function hostLines(t: Topology, sb: Sandbox): string[] {
  const { sorted, linesOn } = namesIndex(t);
  const mine = new Set(sb.endpoints.map((ep) => ep.network));
  const lines: string[] = [];
  for (const o of sorted) {
    if (o !== sb && !(o.ownsNetns || o.external)) continue;
    for (const ep of linesOn.get(o)!) if (mine.has(ep.network)) for (const line of ep.lines) lines.push(line);
  }
  return lines;
}

export function resolvLines(dns: NonNullable<Sandbox['dns']>): string[] {
  return [...dns.servers.map((s) => `nameserver ${s}`), ...(dns.search.length ? [`search ${dns.search.join(' ')}`] : [])];
}

const LOCALHOST_TEXT = LOCALHOST_LINES.map((l) => `${l}\n`).join('');
const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

/** The set of networks a sandbox is on, sorted. */
const networksOf = (sb: Sandbox): string[] => [...new Set(sb.endpoints.map((ep) => ep.network))].sort();

/**
 * The key of a shared hosts file: a short stable hash of the host and the sorted set of
 * networks (the body depends on nothing else; the host keeps apart the files of hosts that share
 * one machine's /etc/netns, as netns hosts do).
 */
export const sharedKey = (host: string, networks: readonly string[]): string => stableHash(['hosts', host, ...networks], 8);

/**
 * Every names file of the topology. Per host and set of networks one shared hosts file (a
 * thousand sandboxes on a bridge: one file of 28 KB, not a thousand), and for each namespace
 * tsnet makes a link to it at /etc/netns/<ns>/hosts, and its resolv.conf when it has `dns:`.
 */
export function namesFiles(t: Topology): FileSpec[] {
  const out: FileSpec[] = [];
  const shared = new Map<string, ContentSpec>();
  const sandboxes = [...t.sandboxes.values()].filter((sb) => sb.ownsNetns && sb.netns !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const sb of sandboxes) {
    const networks = networksOf(sb);
    const key = sharedKey(sb.host, networks);
    const id = `${sb.host}\u0000${key}`;
    let file = shared.get(id);
    if (!file) {
      file = { kind: 'hostsfile', host: sb.host, address: `hostsfile.${key}`, path: sharedPath(t.name, key), body: LOCALHOST_TEXT + text(hostLines(t, sb)), sandboxes: [] };
      shared.set(id, file);
      out.push(file);
    }
    file.sandboxes!.push(sb.name);
    out.push({ kind: 'hosts', host: sb.host, address: `hosts.${sb.name}`, path: namesPath(sb.netns!, 'hosts'), target: sharedTarget(t.name, key), shared: file.address });
    if (sb.dns) out.push({ kind: 'resolv', host: sb.host, address: `resolv.${sb.name}`, path: namesPath(sb.netns!, 'resolv.conf'), body: resolvLines(sb.dns).join('\n') + '\n' });
  }
  return out;
}
