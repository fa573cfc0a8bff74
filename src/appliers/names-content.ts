// What the names files of each sandbox say (pure, from the topology): `hosts` with the names of
// the sandboxes it shares a network with (Docker's per-network visibility), and `resolv.conf`
// from its `dns:`. The applier (names.ts) adds tsnet's marker line and writes them.
import type { FileSpec } from '../planner/desired.js';
import { namesPath } from '../state/files.js';
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

/** The set of networks a sandbox is on, as a key. */
const networksKey = (sb: Sandbox): string => [...new Set(sb.endpoints.map((ep) => ep.network))].sort().join('\u0000');

/**
 * Every names file of the topology: for each namespace tsnet makes, its hosts, and its
 * resolv.conf when it has `dns:`. The hosts bodies are made once per set of networks, and the
 * specs of the sandboxes on the same networks hold the same string (a thousand sandboxes on a
 * bridge: one body of 28 KB, not a thousand).
 */
export function namesFiles(t: Topology): FileSpec[] {
  const out: FileSpec[] = [];
  const bodies = new Map<string, string>();
  for (const sb of t.sandboxes.values()) {
    if (!sb.ownsNetns || sb.netns === null) continue;
    const base = { host: sb.host, netns: sb.netns };
    const key = networksKey(sb);
    let body = bodies.get(key);
    if (body === undefined) bodies.set(key, (body = LOCALHOST_TEXT + text(hostLines(t, sb))));
    out.push({ kind: 'hosts', ...base, address: `hosts.${sb.name}`, path: namesPath(sb.netns, 'hosts'), body });
    if (sb.dns) out.push({ kind: 'resolv', ...base, address: `resolv.${sb.name}`, path: namesPath(sb.netns, 'resolv.conf'), body: resolvLines(sb.dns).join('\n') + '\n' });
  }
  return out;
}
