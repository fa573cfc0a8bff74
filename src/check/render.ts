// What `tsnet check` prints: which listeners ran, a table (from, to, what, expected, got, time),
// the --all-pairs lines, then "Checks: 11 passed, 1 failed."; or one JSON document. Pure.
import type { Family } from '../model/types.js';
import { gotText, type Outcome } from './classify.js';
import type { ListenerReport } from './listeners.js';
import type { PairsReport } from './probes.js';
import type { CheckRun, ProbeResult } from './run.js';
import { whatOf } from './spec.js';

export interface Paint {
  green(s: string): string;
  red(s: string): string;
  bold(s: string): string;
}

const plain: Paint = { green: (s) => s, red: (s) => s, bold: (s) => s };

export interface Counts {
  /** Checks of the file: one passes when every row (address) of it passes. */
  checks: { passed: number; failed: number };
  /** Present with --all-pairs. */
  pairs?: { tried: number; reached: number; failed: number };
}

export function countResults(run: Pick<CheckRun, 'results'>, allPairs: boolean): Counts {
  const byCheck = new Map<number, boolean>();
  for (const r of run.results) if (r.probe.source.kind === 'check') byCheck.set(r.probe.source.index, (byCheck.get(r.probe.source.index) ?? true) && r.ok);
  const pairs = run.results.filter((r) => r.probe.source.kind === 'pair');
  const passed = [...byCheck.values()].filter(Boolean).length;
  const reached = pairs.filter((r) => r.ok).length;
  return {
    checks: { passed, failed: byCheck.size - passed },
    ...(allPairs ? { pairs: { tried: pairs.length, reached, failed: pairs.length - reached } } : {}),
  };
}

export const allPassed = (c: Counts): boolean => c.checks.failed === 0 && (c.pairs?.failed ?? 0) === 0;

const where = (host: string, ns: string | null, implicitHost: boolean): string =>
  `${ns ? `namespace ${ns}` : 'the host\'s own stack'}${implicitHost ? '' : ` on host ${host}`}`;

/** One line per listener address: tsnet's (stopped after), a service left alone, or none and why. */
export function listenerLines(reports: readonly ListenerReport[], implicitHost: boolean): string[] {
  return reports.map((r) => {
    const at = `${r.proto}/${r.port} on ${r.address} (${where(r.host, r.ns, implicitHost)})`;
    if (r.state.kind === 'tsnet') return `Listened on ${at} for the checks; stopped after.`;
    if (r.state.kind === 'service') return `A service already listens on ${at}: left alone, the check goes to it.`;
    return `No listener on ${at}: ${r.state.why}.`;
  });
}

const toText = (r: ProbeResult): string => (r.probe.to === r.probe.address ? r.probe.address : `${r.probe.to} (${r.probe.address})`);

function row(r: ProbeResult): string[] {
  return [r.ok ? 'ok' : 'FAIL', r.probe.from, toText(r), whatOf(r.probe.port), r.probe.expect, gotText(r.probe, r.icmp, r.port, r.listener), `${r.ms} ms`];
}

/** Columns padded to their widest cell; the status coloured. */
export function table(results: readonly ProbeResult[], paint: Paint = plain): string {
  const head = ['', 'FROM', 'TO', 'WHAT', 'EXPECTED', 'GOT', 'TIME'];
  const rows = results.map(row);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[], status?: boolean) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]!);
        return i === 0 && status !== undefined ? (status ? paint.green(padded) : paint.red(padded)) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map((cells, i) => line(cells, results[i]!.ok))].join('\n');
}

const familyText = (f: Family) => (f === 4 ? 'IPv4' : 'IPv6');

/** One line per network and family: how many pairs of how many were tried, and how they were picked. */
export function pairsLines(reports: readonly PairsReport[], results: readonly ProbeResult[]): string[] {
  return reports.map((p) => {
    const mine = results.filter((r) => r.probe.source.kind === 'pair' && r.probe.source.network === p.network && r.probe.family === p.family);
    const failed = mine.filter((r) => !r.ok).length;
    const how = p.sampled
      ? `${p.tried} of ${p.total} pairs, sampled (a ring through all ${p.endpoints} endpoints in a shuffled order, then random pairs; seed ${p.seed}: the same pairs every run)`
      : `all ${p.total} pairs of ${p.endpoints} endpoints`;
    return `All pairs on network ${p.network} (${familyText(p.family)}): ${how}; ${mine.length - failed} reached${failed ? `, ${failed} failed` : ''}.`;
  });
}

/** "Checks: 11 passed, 1 failed." (left out for a file without checks run with --all-pairs), then the pairs' line. */
export function summaryLines(c: Counts, paint: Paint = plain): string[] {
  const lines: string[] = [];
  const checks = `Checks: ${c.checks.passed} passed, ${c.checks.failed} failed.`;
  if (!c.pairs || c.checks.passed + c.checks.failed > 0) lines.push(c.checks.failed ? paint.red(checks) : paint.green(checks));
  if (c.pairs) {
    const pairs = `All pairs: ${c.pairs.tried} tried, ${c.pairs.reached} reached, ${c.pairs.failed} failed.`;
    lines.push(c.pairs.failed ? paint.red(pairs) : paint.green(pairs));
  }
  return lines;
}

export interface ReportInput {
  run: CheckRun;
  pairs: PairsReport[];
  allPairs: boolean;
  implicitHost: boolean;
}

/**
 * The whole human report: listeners, the table (every check's row; of the pairs only those that
 * failed, since a matrix of 1000 rows says less than its count), the pairs lines, the summary.
 */
export function renderReport(input: ReportInput, paint: Paint = plain): string {
  const { run } = input;
  const shown = run.results.filter((r) => r.probe.source.kind === 'check' || !r.ok);
  const parts: string[] = [];
  const listeners = listenerLines(run.listeners, input.implicitHost);
  if (listeners.length) parts.push(listeners.join('\n'));
  if (shown.length) parts.push(table(shown, paint));
  if (input.pairs.length) parts.push(pairsLines(input.pairs, run.results).join('\n'));
  parts.push(summaryLines(countResults(run, input.allPairs), paint).join('\n'));
  return `${parts.join('\n\n')}\n`;
}

const outcomeJson = (o: Outcome | undefined) => (o ? { result: o.kind, detail: o.detail ?? null, ms: o.ms } : null);

/** README "JSON output": the results part of `check --json` and of apply's "checks" line. */
export function reportJson(input: ReportInput) {
  const { run } = input;
  const counts = countResults(run, input.allPairs);
  return {
    ok: allPassed(counts),
    listeners: run.listeners.map((l) => ({
      host: l.host,
      namespace: l.ns,
      proto: l.proto,
      port: l.port,
      address: l.address,
      listener: l.state.kind,
      reason: l.state.kind === 'none' ? l.state.why : null,
    })),
    results: run.results.map((r) => ({
      check: r.probe.source.kind === 'check' ? r.probe.source.index + 1 : null,
      network: r.probe.source.kind === 'pair' ? r.probe.source.network : null,
      from: r.probe.from,
      host: r.probe.fromAt.host,
      to: r.probe.to,
      address: r.probe.address,
      family: r.probe.family,
      what: whatOf(r.probe.port),
      expect: r.probe.expect,
      ok: r.ok,
      got: gotText(r.probe, r.icmp, r.port, r.listener),
      icmp: outcomeJson(r.icmp),
      port: r.probe.port ? { proto: r.probe.port.proto, number: r.probe.port.number, ...outcomeJson(r.port)! } : null,
      listener: r.listener?.kind ?? null,
      ms: r.ms,
    })),
    all_pairs: input.allPairs
      ? input.pairs.map((p) => ({ network: p.network, family: p.family, endpoints: p.endpoints, total: p.total, tried: p.tried, sampled: p.sampled, seed: p.seed }))
      : null,
    summary: { passed: counts.checks.passed, failed: counts.checks.failed, pairs: counts.pairs ?? null },
    seconds: run.seconds,
  };
}
