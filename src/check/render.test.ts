// The report of `tsnet check`: listener lines, the table, the pairs lines and the summary; the
// JSON document against schemas/check.schema.json (and that schema refusing a wrong one).
import { describe, expect, it } from 'vitest';
import { checkSchemaErrors } from '../../test/support/check-json.js';
import type { Outcome } from './classify.js';
import type { ListenerReport } from './listeners.js';
import type { Probe } from './probes.js';
import { countResults, renderReport, reportJson, table, type ReportInput } from './render.js';
import type { ProbeResult } from './run.js';

const at = { host: 'local', ns: 't-app' };
const probe = (over: Partial<Probe>): Probe => ({ source: { kind: 'check', index: 0 }, from: 'app', fromAt: at, to: 'db', address: '198.18.0.20', family: 4, expect: 'reach', ...over });
const out = (kind: Outcome['kind'], ms: number, detail?: string): Outcome => ({ kind, ms, ...(detail ? { detail } : {}) });

const results: ProbeResult[] = [
  { probe: probe({ port: { number: 5432, proto: 'tcp' } }), port: out('connected', 3), listener: { kind: 'tsnet' }, ok: true, ms: 3 },
  { probe: probe({ source: { kind: 'check', index: 1 }, from: 'lb', expect: 'blocked' }), icmp: out('reply', 0), ok: false, ms: 0 },
  { probe: probe({ source: { kind: 'check', index: 2 }, to: '198.18.0.1', address: '198.18.0.1' }), icmp: out('reply', 1), ok: true, ms: 1 },
  { probe: probe({ source: { kind: 'pair', network: 'web' }, to: 'db.eth0' }), icmp: out('reply', 0), ok: true, ms: 0 },
  { probe: probe({ source: { kind: 'pair', network: 'web' }, from: 'db', to: 'app.eth0', address: '198.18.0.10' }), icmp: out('timeout', 1001), ok: false, ms: 1001 },
];
const listeners: ListenerReport[] = [
  { host: 'local', ns: 't-db', proto: 'tcp', port: 5432, address: '198.18.0.20', state: { kind: 'tsnet' } },
  { host: 'local', ns: 't-db', proto: 'udp', port: 53, address: '198.18.0.20', state: { kind: 'service' } },
  { host: 'h2', ns: null, proto: 'tcp', port: 22, address: '198.19.0.2', state: { kind: 'none', why: 'host "h2" (ssh x) has neither node nor python3, which tcp and udp checks need there' } },
];
const input: ReportInput = {
  run: { results, listeners, seconds: 1.25 },
  pairs: [{ network: 'web', family: 4, endpoints: 2, total: 2, tried: 2, sampled: false, seed: 1 }],
  allPairs: true,
  implicitHost: true,
};

describe('the human report', () => {
  it('listeners, a table with every check and the failed pairs, the pairs line, then the summary', () => {
    const text = renderReport(input);
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'Listened on tcp/5432 on 198.18.0.20 (namespace t-db) for the checks; stopped after.',
      'A service already listens on udp/53 on 198.18.0.20 (namespace t-db): left alone, the check goes to it.',
      'No listener on tcp/22 on 198.19.0.2 (the host\'s own stack): host "h2" (ssh x) has neither node nor python3, which tcp and udp checks need there.',
    ]);
    expect(lines.slice(4, 9)).toEqual([
      '      FROM  TO                      WHAT      EXPECTED  GOT                             TIME',
      'ok    app   db (198.18.0.20)        tcp/5432  reach     tcp connected (tsnet listener)  3 ms',
      'FAIL  lb    db (198.18.0.20)        icmp      blocked   reply                           0 ms',
      'ok    app   198.18.0.1              icmp      reach     reply                           1 ms',
      'FAIL  db    app.eth0 (198.18.0.10)  icmp      reach     no reply                        1001 ms',
    ]);
    expect(lines.slice(10)).toEqual([
      'All pairs on network web (IPv4): all 2 pairs of 2 endpoints; 1 reached, 1 failed.',
      '',
      'Checks: 2 passed, 1 failed.',
      'All pairs: 2 tried, 1 reached, 1 failed.',
      '',
    ]);
  });

  it('a sampled network says how many of how many, and how they were picked', () => {
    const sampled = { ...input, pairs: [{ network: 'web', family: 6 as const, endpoints: 1000, total: 999000, tried: 1000, sampled: true, seed: 7 }] };
    expect(renderReport(sampled)).toContain(
      'All pairs on network web (IPv6): 1000 of 999000 pairs, sampled (a ring through all 1000 endpoints in a shuffled order, then random pairs; seed 7: the same pairs every run); 0 reached.',
    );
  });

  it('colour only on the status and the summary, when asked', () => {
    const paint = { green: (s: string) => `<g>${s}</g>`, red: (s: string) => `<r>${s}</r>`, bold: (s: string) => s };
    const t = table(results.slice(0, 2), paint).split('\n');
    expect(t[1]!.startsWith('<g>ok  </g>  app')).toBe(true);
    expect(t[2]!.startsWith('<r>FAIL</r>  lb')).toBe(true);
  });

  it('counts checks and pairs apart', () => {
    expect(countResults(input.run, true)).toEqual({ checks: { passed: 2, failed: 1 }, pairs: { tried: 2, reached: 1, failed: 1 } });
    expect(countResults(input.run, false)).toEqual({ checks: { passed: 2, failed: 1 } });
    // A check of the file passes only when each of its rows (one per address) does.
    const twoRows = [results[0]!, { ...results[0]!, probe: { ...results[0]!.probe, address: '2001:db8::20', family: 6 as const }, ok: false }];
    expect(countResults({ results: twoRows }, false)).toEqual({ checks: { passed: 0, failed: 1 } });
  });
});

describe('the JSON report', () => {
  const doc = { format_version: '1.3', topology: 't', file: 't.yaml', drift: [{ host: 'local', address: 'route.a.default', action: 'create' }], ...reportJson(input) };

  it('is valid against schemas/check.schema.json, with every probe\'s outcome', () => {
    expect(checkSchemaErrors(doc)).toEqual([]);
    expect(checkSchemaErrors({ format_version: '1.3', type: 'checks', ...reportJson({ ...input, allPairs: false, pairs: [] }) })).toEqual([]);
    expect(doc.ok).toBe(false);
    expect(doc.summary).toEqual({ passed: 2, failed: 1, pairs: { tried: 2, reached: 1, failed: 1 } });
    expect(doc.results[0]).toEqual({
      check: 1,
      network: null,
      from: 'app',
      host: 'local',
      to: 'db',
      address: '198.18.0.20',
      family: 4,
      what: 'tcp/5432',
      expect: 'reach',
      ok: true,
      got: 'tcp connected (tsnet listener)',
      icmp: null,
      port: { proto: 'tcp', number: 5432, result: 'connected', detail: null, ms: 3 },
      listener: 'tsnet',
      ms: 3,
    });
    expect(doc.results[4]).toMatchObject({ check: null, network: 'web', icmp: { result: 'timeout', detail: null, ms: 1001 }, port: null, listener: null });
    expect(doc.listeners[2]).toEqual({ host: 'h2', namespace: null, proto: 'tcp', port: 22, address: '198.19.0.2', listener: 'none', reason: expect.stringContaining('neither node nor python3') });
  });

  it('the schema is not vacuous', () => {
    expect(checkSchemaErrors({ ...doc, ok: 'yes' })).not.toEqual([]);
    expect(checkSchemaErrors({ ...doc, results: [{ ...doc.results[0], what: 'sctp/1' }] })).not.toEqual([]);
    expect(checkSchemaErrors({ ...doc, results: [{ ...doc.results[0], icmp: { result: 'maybe', detail: null, ms: 1 } }] })).not.toEqual([]);
    const { summary: _s, ...noSummary } = doc;
    expect(checkSchemaErrors(noSummary)).not.toEqual([]);
  });
});
