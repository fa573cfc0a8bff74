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

/** The names a sandbox answers to: its own, and those of the container: sandboxes that share its namespace. */
function namesOf(t: Topology, sb: Sandbox): string[] {
  const names = [sb.name, `${sb.name}.${t.name}`];
  for (const other of t.sandboxes.values()) {
    if (other.mode.kind === 'container' && other.netns === sb.netns && other.host === sb.host) names.push(other.name, `${other.name}.${t.name}`);
  }
  return names;
}

/**
 * The host lines `sb` sees: its own addresses on every network, then each other sandbox's
 * addresses on the networks the two share (by name; in endpoint order, every family). A
 * sandbox on several shared networks has a line per address: `getent hosts` answers with the
 * first, on the first network they share in the other sandbox's endpoint order.
 */
export function hostLines(t: Topology, sb: Sandbox): string[] {
  const lines: string[] = [];
  const line = (other: Sandbox, addresses: readonly string[]) => {
    const names = namesOf(t, other).join(' ');
    for (const a of addresses) lines.push(`${bare(a)}\t${names}`);
  };
  line(sb, sb.endpoints.flatMap((ep) => ep.addresses));
  const mine = new Set(sb.endpoints.map((ep) => ep.network));
  const others = [...t.sandboxes.values()].filter((o) => o !== sb && (o.ownsNetns || o.external) && o.endpoints.some((ep) => mine.has(ep.network)));
  for (const other of others.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    line(other, other.endpoints.filter((ep) => mine.has(ep.network)).flatMap((ep) => ep.addresses));
  }
  return lines;
}

export function resolvLines(dns: NonNullable<Sandbox['dns']>): string[] {
  return [...dns.servers.map((s) => `nameserver ${s}`), ...(dns.search.length ? [`search ${dns.search.join(' ')}`] : [])];
}

/** Every names file of the topology: for each namespace tsnet makes, its hosts, and its resolv.conf when it has `dns:`. */
export function namesFiles(t: Topology): FileSpec[] {
  const out: FileSpec[] = [];
  for (const sb of t.sandboxes.values()) {
    if (!sb.ownsNetns || sb.netns === null) continue;
    const base = { host: sb.host, netns: sb.netns };
    out.push({ kind: 'hosts', ...base, address: `hosts.${sb.name}`, path: namesPath(sb.netns, 'hosts'), body: [...LOCALHOST_LINES, ...hostLines(t, sb)].join('\n') + '\n' });
    if (sb.dns) out.push({ kind: 'resolv', ...base, address: `resolv.${sb.name}`, path: namesPath(sb.netns, 'resolv.conf'), body: resolvLines(sb.dns).join('\n') + '\n' });
  }
  return out;
}
