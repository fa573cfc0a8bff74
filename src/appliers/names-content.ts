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
 * The host lines `sb` sees: its own addresses on every network, then each other sandbox's
 * addresses on the networks the two share (by name; in endpoint order, every family). A
 * sandbox on several shared networks has a line per address: `getent hosts` answers with the
 * first, on the first network they share in the other sandbox's endpoint order.
 */
export function hostLines(t: Topology, sb: Sandbox): string[] {
  const { sorted, linesOn } = namesIndex(t);
  const lines: string[] = [];
  for (const ep of linesOn.get(sb)!) lines.push(...ep.lines);
  const mine = new Set(sb.endpoints.map((ep) => ep.network));
  for (const other of sorted) {
    if (other === sb || !(other.ownsNetns || other.external)) continue;
    for (const ep of linesOn.get(other)!) if (mine.has(ep.network)) for (const line of ep.lines) lines.push(line);
  }
  return lines;
}

export function resolvLines(dns: NonNullable<Sandbox['dns']>): string[] {
  return [...dns.servers.map((s) => `nameserver ${s}`), ...(dns.search.length ? [`search ${dns.search.join(' ')}`] : [])];
}

const LOCALHOST_TEXT = LOCALHOST_LINES.map((l) => `${l}\n`).join('');
const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

/**
 * Per network: the text of the lines every sandbox that others see has on it (hostLines' order:
 * by name, endpoint order), and where each sandbox's part of it starts and ends.
 */
interface NetworkText {
  text: string;
  at: Map<Sandbox, { start: number; end: number }>;
}

function networkTexts(t: Topology): Map<string, NetworkText> {
  const { sorted, linesOn } = namesIndex(t);
  const parts = new Map<string, { chunks: string[]; length: number; at: NetworkText['at'] }>();
  for (const sb of sorted) {
    if (!(sb.ownsNetns || sb.external)) continue;
    for (const ep of linesOn.get(sb)!) {
      let p = parts.get(ep.network);
      if (!p) parts.set(ep.network, (p = { chunks: [], length: 0, at: new Map() }));
      const chunk = text(ep.lines);
      const was = p.at.get(sb);
      // Consecutive: a sandbox's endpoints on this network follow one another here.
      p.at.set(sb, { start: was?.start ?? p.length, end: p.length + chunk.length });
      p.chunks.push(chunk);
      p.length += chunk.length;
    }
  }
  return new Map([...parts].map(([net, p]) => [net, { text: p.chunks.join(''), at: p.at }]));
}

/**
 * A hosts file's lines after Docker's: hostLines joined. A sandbox on one network (the common
 * case, and at a thousand sandboxes on a bridge the costly one) takes its network's text without
 * its own part: two slices of one string shared by all, not a thousand lines joined again.
 */
function hostsBody(t: Topology, sb: Sandbox, texts: () => Map<string, NetworkText>): string {
  const networks = new Set(sb.endpoints.map((ep) => ep.network));
  if (networks.size !== 1) return LOCALHOST_TEXT + text(hostLines(t, sb));
  const net = texts().get([...networks][0]!);
  const own = namesIndex(t).linesOn.get(sb)!.flatMap((ep) => ep.lines);
  if (!net) return LOCALHOST_TEXT + text(own);
  const at = net.at.get(sb);
  const others = at ? net.text.slice(0, at.start) + net.text.slice(at.end) : net.text;
  return LOCALHOST_TEXT + text(own) + others;
}

/** Every names file of the topology: for each namespace tsnet makes, its hosts, and its resolv.conf when it has `dns:`. */
export function namesFiles(t: Topology): FileSpec[] {
  const out: FileSpec[] = [];
  let texts: Map<string, NetworkText> | undefined;
  const lazyTexts = () => (texts ??= networkTexts(t));
  for (const sb of t.sandboxes.values()) {
    if (!sb.ownsNetns || sb.netns === null) continue;
    const base = { host: sb.host, netns: sb.netns };
    out.push({ kind: 'hosts', ...base, address: `hosts.${sb.name}`, path: namesPath(sb.netns, 'hosts'), body: hostsBody(t, sb, lazyTexts) });
    if (sb.dns) out.push({ kind: 'resolv', ...base, address: `resolv.${sb.name}`, path: namesPath(sb.netns, 'resolv.conf'), body: resolvLines(sb.dns).join('\n') + '\n' });
  }
  return out;
}
