// What tsnet has built on this machine, found from ownership marks rather than from its own
// files (which a reboot, or another state directory, loses): the lo alias of every namespace in
// /run/netns, the aliases of every link in the machine's own stack and inside every namespace
// (namespaces standing for netns hosts hold bridges and veth host ends), and nftables tables
// named tsnet-<topology>. One `ip -json link show` per namespace through the fan-out, so
// reading 1000 namespaces costs well under a second on two cores.
import { defaultConcurrency, oneLine, pool } from '../state/read.js';
import { NAT_FAMILY } from '../state/nft.js';
import { parseMark } from '../state/ownership.js';
import type { Runner } from '../state/runner.js';
import { readNsLinks, readRootLinks, type LinkMark } from './marks.js';

export interface TopologyCounts {
  name: string;
  /** Namespaces whose lo carries the topology's mark. */
  namespaces: number;
  /** Links (not lo) carrying its mark, in the machine's stack and in any namespace. */
  links: number;
  /** nftables tables tsnet-<name> (the machine's stack, and namespaces standing for hosts). */
  nftTables: number;
}

export interface MachineMarks {
  root: LinkMark[];
  /** Every readable namespace of the machine, with its links. */
  namespaces: Map<string, LinkMark[]>;
  /** nftables table names per stack ('' for the machine's own). */
  tables: Map<string, string[]>;
}

const TABLE_PREFIX = 'tsnet-';

/** Counts per topology, sorted by name. Pure. */
export function countMarks(m: MachineMarks): TopologyCounts[] {
  const counts = new Map<string, TopologyCounts>();
  const of = (name: string) => {
    let c = counts.get(name);
    if (!c) counts.set(name, (c = { name, namespaces: 0, links: 0, nftTables: 0 }));
    return c;
  };
  const links = (list: readonly LinkMark[], inNamespace: boolean) => {
    for (const l of list) {
      const mark = parseMark(l.alias);
      if (!mark) continue;
      if (inNamespace && l.ifname === 'lo') of(mark.topology).namespaces++;
      else of(mark.topology).links++;
    }
  };
  links(m.root, false);
  for (const list of m.namespaces.values()) links(list, true);
  for (const names of m.tables.values()) for (const t of names) if (t.startsWith(TABLE_PREFIX) && t.length > TABLE_PREFIX.length) of(t.slice(TABLE_PREFIX.length)).nftTables++;
  return [...counts.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Namespaces that may stand for hosts: no tsnet mark on their lo (not a sandbox), but links
 * that carry one (a bridge, veth host ends). Only these can hold a topology's nftables table
 * besides the machine's own stack (NAT goes with a bridge network on that host); a plain
 * foreign namespace holds nothing of tsnet's and is not asked.
 */
export const hostStandIns = (m: Pick<MachineMarks, 'namespaces'>): string[] =>
  [...m.namespaces]
    .filter(([, links]) => !parseMark(links.find((l) => l.ifname === 'lo')?.alias) && links.some((l) => l.ifname !== 'lo' && parseMark(l.alias)))
    .map(([n]) => n);

/** The names of nftables tables of family inet in a stack; [] where nft is missing. */
export async function readTables(runner: Runner, ns: string | null): Promise<string[]> {
  const res = await runner.run(['nft', '-j', 'list', 'tables', NAT_FAMILY], { ns });
  if (res.exitCode === 127) return []; // no nft: no table of tsnet's can exist either
  if (res.exitCode !== 0) {
    if (ns && /^nsenter: .*No such file or directory/m.test(res.stderr)) return []; // gone meanwhile
    if (/Operation not supported|Protocol not supported|Address family not supported/.test(res.stderr)) return [];
    throw new Error(`cannot list the nftables tables of ${ns ? `namespace "${ns}"` : `host "${runner.host}"`}: ${oneLine(res.stderr) || `nft exited with ${res.exitCode}`}`);
  }
  const text = res.stdout.trim();
  if (!text) return [];
  const json = JSON.parse(text) as { nftables?: { table?: { family: string; name: string } }[] };
  return (json.nftables ?? []).flatMap((i) => (i.table && i.table.family === NAT_FAMILY ? [i.table.name] : []));
}

/**
 * Reads every mark on the runner's machine (a local runner: this machine). A namespace that
 * vanishes meanwhile is skipped; one that cannot be read is an error naming it.
 */
export async function readMachineMarks(runner: Runner, opts: { tables?: boolean; concurrency?: number } = {}): Promise<MachineMarks> {
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const [names, root] = await Promise.all([runner.listNetns(), readRootLinks(runner)]);
  const reads = await readNsLinks(runner, names, 'all', concurrency);
  const namespaces = new Map<string, LinkMark[]>();
  for (const [ns, read] of reads) {
    if (read.ok) namespaces.set(ns, read.links);
    else if (!read.gone) throw new Error(`cannot read namespace "${ns}": ${read.error}`);
  }
  const tables = new Map<string, string[]>();
  if (opts.tables !== false) {
    // tsnet's tables live in a host's own stack: this machine's, or a namespace standing for a
    // host. Sandboxes never hold one.
    const stacks: (string | null)[] = [null, ...hostStandIns({ namespaces })];
    const found = await pool(stacks, concurrency, (ns) => readTables(runner, ns));
    stacks.forEach((ns, i) => tables.set(ns ?? '', found[i]!));
  }
  return { root, namespaces, tables };
}
