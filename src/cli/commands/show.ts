// tsnet show FILE: the live state of what the topology owns, as tables (or JSON).
import { HostView, ROUTE_PROTO } from '../../appliers/common.js';
import { closeRunners, planSession } from '../../engine/index.js';
import { parseMark } from '../../state/ownership.js';
import { describeQdisc } from '../../model/shaping.js';
import { isDefaultQdiscKind } from '../../state/tc.js';
import type { KLink } from '../../state/types.js';
import { withEngineErrors } from '../engine-errors.js';
import { JSON_FORMAT_VERSION, painter, useColor, writeJson } from '../output.js';

export interface ShowOptions {
  json?: boolean;
}

interface Row {
  host: string;
  sandbox: string;
  netns: string;
  interface: string;
  kind: string;
  /** Administrative state: up or down. */
  state: string;
  /** The kernel's operational state (UP, DOWN, LOWERLAYERDOWN, UNKNOWN, ...). */
  operstate: string;
  /** False when the link has no carrier (NO-CARRIER): up, but nothing gets through. */
  carrier: boolean;
  mtu: number;
  mac: string;
  addresses: string[];
  master?: string;
  resource: string;
  /** Its root qdisc as tsnet writes shaping ("tbf rate 20mbit burst 10000b limit 135000b"); null: the kernel default. */
  shaping: string | null;
}

/** A link's shaping: the tbf or netem tc read, another kind by name, null for the default. */
function shapingOf(l: KLink): string | null {
  const root = l.qdiscs?.root;
  if (root?.type === 'shaping') return [describeQdisc(root.qdisc), ...root.extras].join(', ');
  const kind = root?.kind ?? l.qdisc ?? 'noop';
  return isDefaultQdiscKind(kind) ? null : kind;
}

/** "tbf rate 20mbit burst 10000b limit 135000b" -> "tbf rate 20mbit": the table keeps what was written, not the defaults. */
const shortText = (text: string): string => text.replace(/ (burst|limit) \S+( packets)?/g, '');

/** The operational state as `ip link` shows it, with NO-CARRIER beside it. */
const operText = (r: Row): string => `${r.operstate}${r.carrier ? '' : ' NO-CARRIER'}`;

/** An up link that passes traffic: carrier, and operationally up (UNKNOWN: lo and the like). */
const working = (r: Row): boolean => r.carrier && (r.operstate === 'UP' || r.operstate === 'UNKNOWN');

export async function showCommand(file: string, opts: ShowOptions): Promise<void> {
  const s = await withEngineErrors(opts.json, () => planSession(file, 'apply'), 'show');
  try {
    const t = s.topology;
    const rows: Row[] = [];
    const routes: { host: string; sandbox: string; netns: string; to: string; via: string; dev: string }[] = [];
    const missing: string[] = [];
    for (const [host, state] of s.live.hosts) {
      const view = new HostView(t.name, state, (a) => t.sandboxes.get(a.slice('sandbox.'.length))?.host === host || !t.sandboxes.has(a.slice('sandbox.'.length)));
      const row = (l: KLink, sandbox: string, netns: string): Row => ({
        host,
        sandbox,
        netns,
        interface: l.ifname,
        kind: l.kind ?? 'device',
        state: l.up ? 'up' : 'down',
        operstate: l.operstate ?? 'UNKNOWN',
        carrier: !l.noCarrier,
        mtu: l.mtu,
        mac: l.mac,
        addresses: l.addresses.filter((a) => a.scope !== 'host').map((a) => a.cidr),
        ...(l.master ? { master: l.master } : {}),
        resource: parseMark(l.alias)?.address ?? '',
        shaping: shapingOf(l),
      });
      for (const l of state.root.links) if (parseMark(l.alias)?.topology === t.name) rows.push(row(l, '(host)', '-'));
      for (const [address, ns] of view.ownedNs) {
        const sandbox = address.slice('sandbox.'.length);
        for (const l of ns.links) rows.push(row(l, sandbox, ns.name!));
        for (const r of ns.routes) {
          if (r.protocol === 'kernel') continue;
          routes.push({ host, sandbox, netns: ns.name!, to: r.dst, via: r.gateway ?? '-', dev: `${r.dev ?? '-'}${r.protocol === ROUTE_PROTO ? '' : ' (not tsnet\'s)'}` });
        }
      }
    }
    // What the file names and the kernel lacks: the resources the plan would create; and what
    // differs from the file: those it would change or replace.
    const named = (c: { address: string; host: string }) => `${c.address}${t.implicitHost ? '' : ` (host ${c.host})`}`;
    for (const c of s.plan.changes) if (c.action === 'create') missing.push(named(c));
    const differs = s.plan.changes.filter((c) => c.action === 'update' || c.action === 'replace').map(named);
    if (opts.json) {
      writeJson({ format_version: JSON_FORMAT_VERSION, topology: t.name, file, interfaces: rows, routes, missing, differs });
      return;
    }
    const p = painter(useColor());
    const multiHost = !t.implicitHost;
    const table = (head: string[], body: string[][]) => {
      const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
      const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
      return [p.bold(fmt(head)), ...body.map(fmt)].join('\n');
    };
    if (!rows.length) {
      process.stdout.write(`${t.name}: nothing of this topology exists on the kernel (run "tsnet apply ${file}")\n`);
      return;
    }
    const ifHead = [...(multiHost ? ['HOST'] : []), 'SANDBOX', 'NETNS', 'INTERFACE', 'KIND', 'STATE', 'OPERSTATE', 'MTU', 'ADDRESSES', 'MAC', 'SHAPING'];
    const ifBody = rows.map((r) => [
      ...(multiHost ? [r.host] : []),
      r.sandbox,
      r.netns,
      r.master ? `${r.interface} (on ${r.master})` : r.interface,
      r.kind,
      r.state === 'up' ? r.state : p.red(r.state),
      r.state === 'up' && !working(r) ? p.red(operText(r)) : operText(r),
      String(r.mtu),
      r.addresses.join(' ') || '-',
      r.mac,
      r.shaping === null ? '-' : shortText(r.shaping),
    ]);
    process.stdout.write(`${table(ifHead, ifBody)}\n`);
    if (routes.length) {
      const rHead = [...(multiHost ? ['HOST'] : []), 'SANDBOX', 'ROUTE', 'VIA', 'DEV'];
      process.stdout.write(`\n${table(rHead, routes.map((r) => [...(multiHost ? [r.host] : []), r.sandbox, r.to, r.via, r.dev]))}\n`);
    }
    if (missing.length) process.stdout.write(`\n${p.yellow('missing')}: ${missing.join(', ')} (run "tsnet plan ${file}")\n`);
    if (differs.length) process.stdout.write(`\n${p.yellow('differs from the file')}: ${differs.join(', ')} (run "tsnet plan ${file}")\n`);
  } finally {
    await closeRunners(s.runners);
  }
}
