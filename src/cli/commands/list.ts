// tsnet list: the topologies tsnet has built on this machine, found from their ownership marks
// (src/exec/inventory.ts), with object counts and the last apply from its record.
import { countMarks, readMachineMarks, type TopologyCounts } from '../../exec/inventory.js';
import { LocalRunner } from '../../state/runner.js';
import { readAllApplied, viaText, type AppliedRecord } from '../applied.js';
import { ExitError } from '../errors.js';
import { JSON_FORMAT_VERSION, painter, useColor, writeJson } from '../output.js';
import { missingCapabilities } from '../privileges.js';

export interface ListOptions {
  json?: boolean;
}

export interface ListRow extends TopologyCounts {
  record?: AppliedRecord;
}

/**
 * The rows: every topology with a mark on this machine, and those whose record names an ssh
 * host (their objects may all be elsewhere; only this machine's are counted).
 */
export function listRows(counts: readonly TopologyCounts[], records: ReadonlyMap<string, AppliedRecord>): ListRow[] {
  const rows = new Map<string, ListRow>(counts.map((c) => [c.name, { ...c }]));
  for (const [name, r] of records) {
    if (!rows.has(name) && r.hosts.some((h) => h.via.kind === 'ssh')) rows.set(name, { name, namespaces: 0, links: 0, nftTables: 0 });
  }
  for (const row of rows.values()) {
    const r = records.get(row.name);
    if (r) row.record = r;
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
}

const sshHosts = (row: ListRow) => row.record?.hosts.filter((h) => h.via.kind === 'ssh') ?? [];

export function listJson(rows: readonly ListRow[]) {
  return {
    format_version: JSON_FORMAT_VERSION,
    topologies: rows.map((r) => ({
      name: r.name,
      namespaces: r.namespaces,
      links: r.links,
      nft_tables: r.nftTables,
      last_apply: r.record?.applied_at ?? null,
      file: r.record?.file ?? null,
      hosts: r.record ? r.record.hosts.map((h) => ({ name: h.name, via: viaText(h.via) })) : null,
    })),
  };
}

/** The table people read; "unknown" where no record says. */
export function renderList(rows: readonly ListRow[], color: boolean): string {
  if (!rows.length) return 'tsnet owns nothing on this machine.';
  const p = painter(color);
  const head = ['TOPOLOGY', 'NAMESPACES', 'LINKS', 'NFT TABLES', 'LAST APPLY', 'FILE'];
  const cells = rows.map((r) => [r.name, String(r.namespaces), String(r.links), String(r.nftTables), r.record ? r.record.applied_at.replace(/\.\d+Z$/, 'Z') : 'unknown', r.record?.file ?? 'unknown']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  const out = [p.bold(line(head)), ...cells.map(line)];
  for (const r of rows) {
    const ssh = sshHosts(r);
    if (ssh.length) out.push(`${r.name}: also on ${ssh.map((h) => `host "${h.name}" (${viaText(h.via)})`).join(', ')}; counted here is only what is on this machine`);
  }
  return out.join('\n');
}

export async function listCommand(opts: ListOptions): Promise<void> {
  const missing = missingCapabilities();
  if (missing.length) throw new ExitError(`list needs root (${missing.join(' and ')}) to read inside network namespaces; run it with sudo, or inside scripts/lab`);
  let counts: TopologyCounts[];
  try {
    counts = countMarks(await readMachineMarks(new LocalRunner('local')));
  } catch (err) {
    if (opts.json) writeJson({ format_version: JSON_FORMAT_VERSION, error: { kind: 'read', host: 'local', message: (err as Error).message } });
    throw new ExitError((err as Error).message, 1, Boolean(opts.json));
  }
  const rows = listRows(counts, readAllApplied());
  if (opts.json) writeJson(listJson(rows));
  else process.stdout.write(`${renderList(rows, useColor())}\n`);
}
