// tsnet check and apply --check on this machine, with real traffic in the lab: checks pass as the
// file was applied, and fail for real reasons: a route removed by hand fails a reach check; a
// sandbox moved to another network fails a blocked check (apply --check exits 1 with the table;
// with --confirm-within the change is rolled back at once, to an identical kernel dump). Port
// checks with nobody listening pass through tsnet's listener (reported, and gone afterwards); a
// real service on the port is left alone and answers the check. UDP and IPv6. --all-pairs,
// sampled past --max-pairs, the same pairs on every run. JSON against schemas/check.schema.json.
// The Python 3 probes (for ssh hosts without node) against the same kernel.
// Fixtures: fixtures/check-local.yaml (kck) and check-moved.yaml (x moved next to a).
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planProbes } from '../../src/check/probes.js';
import { runProbes } from '../../src/check/run.js';
import { loadChecked } from '../../src/engine/index.js';
import { LocalRunner } from '../../src/state/runner.js';
import { checkSchemaErrors } from '../support/check-json.js';
import { quietDump, settledDump } from '../support/dump.js';
import { jsonLines } from '../support/json.js';
import { FIXTURES, ROOT, alive, describeInLab, eventually, labProcesses, must, removeAll, run, start, tsnet, tsnetOk, type Started } from '../support/lab.js';

const FILE = join(FIXTURES, 'check-local.yaml');
const MOVED = join(FIXTURES, 'check-moved.yaml');
const NETNS = ['kck-router', 'kck-a', 'kck-b', 'kck-c', 'kck-x', 'kck-iso'];
const BRIDGES = ['tsn-ckleft', 'tsn-ckright', 'tsn-ckother', 'tsn-ckmany'];
const STATE = (suffix: string) => `/run/tsnet/kck.${suffix}`;

interface Row {
  status: string;
  from: string;
  to: string;
  what: string;
  expected: string;
  got: string;
}

/** The table's rows: "ok"/"FAIL", then the columns (cells never hold two spaces in a row). */
function rows(stdout: string): Row[] {
  return stdout
    .split('\n')
    .filter((l) => /^(ok|FAIL) /.test(l))
    .map((l) => {
      const [status, from, to, what, expected, got] = l.split(/ {2,}/);
      return { status: status!, from: from!, to: to!, what: what!, expected: expected!, got: got! };
    });
}

const brief = (r: Row) => `${r.status} ${r.from} -> ${r.to} ${r.what} ${r.expected}: ${r.got}`;

/** This lab's processes running tsnet's listener script (it names itself in its first line). */
const listenerProcesses = (): number[] => labProcesses((c) => c.includes('const [proto, port, life, ...addrs]'));

/** Sockets listening on `port` (TCP and UDP) in a namespace. */
const listening = async (ns: string, port: number): Promise<string> => (await must(['ss', '-Hlntu', 'sport', '=', `:${port}`], { ns })).trim();

const ALL_PASS = [
  'ok a -> b (198.18.141.10) icmp reach: reply',
  'ok a -> b (198.18.141.10) tcp/5432 reach: tcp connected (tsnet listener)',
  'ok b -> 198.18.140.10 udp/53 reach: udp answered (tsnet listener)',
  'ok a -> c (198.18.140.2) icmp reach: reply',
  'ok a -> c (2001:db8:140::3) icmp reach: reply',
  'ok c -> a (198.18.140.10) tcp/8080 reach: tcp connected (tsnet listener)',
  'ok c -> a (2001:db8:140::10) tcp/8080 reach: tcp connected (tsnet listener)',
  'ok x -> a (198.18.140.10) icmp blocked: no reply',
  'ok x -> a (2001:db8:140::10) icmp blocked: unreachable (no route)',
  'ok x -> a (198.18.140.10) tcp/22 blocked: no reply; tcp timeout (tsnet listener)',
  'ok x -> a (2001:db8:140::10) tcp/22 blocked: unreachable (no route); tcp unreachable (ENETUNREACH) (tsnet listener)',
  'ok iso -> a (198.18.140.10) icmp blocked: unreachable (no route)',
  'ok iso -> a (2001:db8:140::10) icmp blocked: unreachable (no route)',
  'ok side -> 198.18.140.1 icmp reach: reply',
  'ok a -> b.eth0 (198.18.141.10) tcp/9000 reach: tcp connected (tsnet listener)',
];

describeInLab('tsnet check', () => {
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: BRIDGES });
    // What keeps x apart from a: the lab's stack does not forward between its bridges.
    expect((await must(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim()).toBe('0');
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: NETNS, links: BRIDGES });
    for (const f of ['confirm.json', 'confirmed.json', 'rolling-back.json', 'confirm.log', 'journal.json', 'progress', 'lock']) rmSync(STATE(f), { force: true });
  });

  it('refuses before the apply, naming each sandbox that is not there, and probes nothing', async () => {
    const res = await tsnet('check', FILE);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    // Each sandbox a check starts in or goes to (the router, in none, is not named).
    expect(res.stderr.split('\n').filter(Boolean)).toEqual([
      `tsnet: ${FILE} is not applied: sandbox "a" does not exist: there is no namespace "kck-a"; run "tsnet apply ${FILE}" first`,
      ...['b', 'c', 'x'].map((s) => `tsnet: sandbox "${s}" does not exist: there is no namespace "kck-${s}"; run "tsnet apply ${FILE}" first`),
      `tsnet: sandbox "side" does not exist: there is no namespace "kck-a"; run "tsnet apply ${FILE}" first`,
      `tsnet: sandbox "iso" does not exist: there is no namespace "kck-iso"; run "tsnet apply ${FILE}" first`,
    ]);
  });

  it('after the apply every check passes; tsnet listened where nothing did, and nothing of it is left', async () => {
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    const res = await tsnet('check', FILE);
    expect(res.code, res.all).toBe(0);
    expect(res.stderr).toBe('');
    expect(rows(res.stdout).map(brief)).toEqual(ALL_PASS);
    expect(res.stdout).toContain('Listened on tcp/5432 on 198.18.141.10 (namespace kck-b) for the checks; stopped after.');
    expect(res.stdout).toContain('Listened on udp/53 on 198.18.140.10 (namespace kck-a) for the checks; stopped after.');
    // 15 rows (one per address), 10 checks of the file.
    expect(res.stdout).toMatch(/\n\nChecks: 10 passed, 0 failed\.$/);
    expect(listenerProcesses()).toEqual([]);
    for (const [ns, port] of [['kck-b', 5432], ['kck-a', 53], ['kck-a', 8080], ['kck-b', 9000]] as const) expect(await listening(ns, port)).toBe('');
  });

  // -q (the summary only) is shown by the route test below, which ends with a passing `check -q`.
  it('--json is one document valid against schemas/check.schema.json', async () => {
    const res = await tsnet('check', '--json', FILE);
    expect(res.code, res.all).toBe(0);
    const doc = JSON.parse(res.stdout) as { format_version: string; ok: boolean; drift: unknown[]; results: { check: number; ok: boolean; listener: string | null }[]; listeners: unknown[] };
    expect(checkSchemaErrors(doc)).toEqual([]);
    expect(doc).toMatchObject({ format_version: '1.5', topology: 'kck', file: FILE, ok: true, drift: [], all_pairs: null, summary: { passed: 10, failed: 0, pairs: null } });
    expect(doc.results.map((r) => r.check)).toEqual([1, 2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10]);
    expect(doc.listeners).toHaveLength(7); // tcp/5432, udp/53, tcp/8080 and tcp/22 on both of a's addresses, tcp/9000
  });

  it('a real service on the port is left alone: the check goes to it, and it keeps running', async () => {
    // A "service" in b on 0.0.0.0:9000 that greets and closes. Like any real service it handles
    // a client that resets the connection (the check's probe closes at once, so writing the
    // greeting can meet a reset): without that handler node would die of the unhandled error.
    const service: Started = start(['node', '-e', "require('net').createServer((c) => { c.on('error', () => {}); c.end('hello\\n'); }).listen(9000, '0.0.0.0', () => console.log('up'))"], { ns: 'kck-b' });
    try {
      await eventually(async () => expect(await listening('kck-b', 9000)).toContain('0.0.0.0:9000'), 10_000);
      const res = await tsnet('check', FILE);
      expect(res.code, res.all).toBe(0);
      expect(res.stdout).toContain('A service already listens on tcp/9000 on 198.18.141.10 (namespace kck-b): left alone, the check goes to it.');
      expect(rows(res.stdout).find((r) => r.what === 'tcp/9000')!.got).toBe('tcp connected (service listening)');
      // Still there, still its own: alive, the one listener on the port, and it greets.
      if (!alive(service.pid)) throw new Error(`the service died: ${(await service.done).all}`);
      const held = (await listening('kck-b', 9000)).split('\n').filter(Boolean);
      expect(held).toHaveLength(1);
      expect(held[0]).toContain('0.0.0.0:9000');
      // Read until the service closes (its greeting may come in pieces); an error says which.
      const greet = await run(['node', '-e', "let got = ''; require('net').connect(9000, '198.18.141.10').on('data', (d) => (got += d)).on('end', () => process.stdout.write(got.trim())).on('error', (e) => { console.error(e.message); process.exit(2); })"], { ns: 'kck-a' });
      expect(greet.stdout, greet.stderr).toBe('hello');
      expect(alive(service.pid)).toBe(true);
    } finally {
      service.kill('SIGTERM');
      await service.done;
    }
  });

  it('a route removed by hand: the reach checks through it fail, the drift is named; apply repairs it and they pass', async () => {
    await must(['ip', 'route', 'del', '198.18.141.0/24'], { ns: 'kck-a' });
    const res = await tsnet('check', FILE);
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain(`tsnet: warning: the kernel differs from ${FILE} (1 change: + route.a.198.18.141.0/24;`);
    const failed = rows(res.stdout).filter((r) => r.status === 'FAIL').map(brief);
    // a's packets to b now take its default route, to the lab's stack, which does not forward
    // them; b's UDP probe reaches a, whose answer takes the same dead end.
    expect(failed).toEqual([
      'FAIL a -> b (198.18.141.10) icmp reach: no reply',
      'FAIL a -> b (198.18.141.10) tcp/5432 reach: tcp timeout (tsnet listener)',
      'FAIL b -> 198.18.140.10 udp/53 reach: udp no answer (tsnet listener)',
      'FAIL a -> b.eth0 (198.18.141.10) tcp/9000 reach: tcp timeout (tsnet listener)',
    ]);
    expect(res.stdout).toMatch(/Checks: 6 passed, 4 failed\.$/);
    const json = await tsnet('check', '--json', FILE);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as { ok: boolean; drift: unknown[] };
    expect(checkSchemaErrors(doc)).toEqual([]);
    expect(doc.ok).toBe(false);
    expect(doc.drift).toEqual([{ host: 'local', address: 'route.a.198.18.141.0/24', action: 'create' }]);

    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect((await tsnet('check', '-q', FILE)).stdout).toBe('Checks: 10 passed, 0 failed.');
  });

  it('apply --check of x moved next to a: the blocked checks fail, exit 1 with the table, and the change stays', async () => {
    const res = await tsnet('apply', '--auto-approve', '--check', MOVED);
    expect(res.code, res.all).toBe(1);
    expect(res.stdout).toMatch(/Apply complete! Resources: 1 added, 5 changed, 1 destroyed\./); // x's endpoint moves, re-addressed; its hosts link, its old and new networks' shared files
    expect(rows(res.stdout).filter((r) => r.status === 'FAIL').map(brief)).toEqual([
      'FAIL x -> a (198.18.140.10) icmp blocked: reply',
      'FAIL x -> a (2001:db8:140::10) icmp blocked: reply',
      'FAIL x -> a (198.18.140.10) tcp/22 blocked: reply; tcp connected (tsnet listener)',
      'FAIL x -> a (2001:db8:140::10) tcp/22 blocked: reply; tcp connected (tsnet listener)',
    ]);
    expect(res.stdout).toMatch(/Checks: 8 passed, 2 failed\.$/);
    expect(res.stderr).toContain('the checks failed after the apply; the change stays applied');
    expect((await tsnet('plan', '--detailed-exitcode', MOVED)).code).toBe(0);
    // Back as the file says; its checks pass again through apply --check.
    const back = await tsnet('apply', '--auto-approve', '--check', '-q', FILE);
    expect(back.code, back.all).toBe(0);
    expect(back.stdout).toContain('Checks: 10 passed, 0 failed.');
  });

  it('apply --check --confirm-within: a failing check rolls the change back at once, to an identical kernel dump', async () => {
    const before = await quietDump();
    const t0 = Date.now();
    const res = await tsnet('apply', '--auto-approve', '--check', '--confirm-within', '5m', MOVED);
    expect(res.code, res.all).toBe(1);
    expect(Date.now() - t0).toBeLessThan(60_000); // not the five minutes of the timer
    expect(res.stderr).toContain('tsnet: the checks failed: the change was rolled back at once (--confirm-within), without waiting for the deadline');
    expect(res.stdout).not.toContain('This change rolls back at');
    expect(await settledDump(before)).toEqual(before);
    expect(existsSync(STATE('confirm.json'))).toBe(false);
    expect(readFileSync(STATE('confirm.log'), 'utf8')).toMatch(/^checks failed after the apply: rolled back at once at /);
    // Nothing pends: the next apply is not refused (and has nothing to do).
    expect((await tsnet('apply', '--auto-approve', '-q', FILE)).stdout).toBe(`No changes. The kernel matches ${FILE}.`);
  });

  it('the same with --json: the result, the checks line (valid against the schema), then confirm_rolled_back', async () => {
    const before = await quietDump();
    const res = await tsnet('apply', '--auto-approve', '--json', '--check', '--confirm-within', '5m', MOVED);
    expect(res.code, res.all).toBe(1);
    const lines = jsonLines(res.stdout);
    const types = lines.map((l) => l.type);
    expect(types.slice(-3)).toEqual(['result', 'checks', 'confirm_rolled_back']);
    expect(lines.at(-3)).toMatchObject({ ok: true });
    expect(checkSchemaErrors(lines.at(-2))).toEqual([]);
    expect(lines.at(-2)).toMatchObject({ ok: false, summary: { passed: 8, failed: 2, pairs: null } });
    expect(lines.at(-1)).toEqual({ format_version: '1.5', type: 'confirm_rolled_back', topology: 'kck', reason: 'checks failed', errors: [] });
    expect(await settledDump(before)).toEqual(before);
  });

  it('--all-pairs: every pair of endpoints on each network, per family', async () => {
    const res = await tsnet('check', '--all-pairs', FILE);
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toContain('All pairs on network ckleft (IPv4): all 6 pairs of 3 endpoints; 6 reached.');
    expect(res.stdout).toContain('All pairs on network ckleft (IPv6): all 6 pairs of 3 endpoints; 6 reached.');
    expect(res.stdout).toContain('All pairs on network ckright (IPv4): all 2 pairs of 2 endpoints; 2 reached.');
    expect(res.stdout).toMatch(/Checks: 10 passed, 0 failed\.\nAll pairs: 14 tried, 14 reached, 0 failed\.$/);
    const sampled = await tsnet('check', '--all-pairs', '--max-pairs', '4', '-q', FILE);
    expect(sampled.stdout).toBe('Checks: 10 passed, 0 failed.\nAll pairs: 10 tried, 10 reached, 0 failed.');
  });

  // 12 sandboxes are enough to sample: 16 of their 132 pairs is a ring through all 12 and 4
  // random pairs (the sampling itself is src/check/sample.test.ts's); here it runs for real.
  describe('on a network of 12 sandboxes', () => {
    const many = join(tmpdir(), 'kck-many.yaml');
    beforeAll(async () => {
      const sandboxes = Array.from({ length: 12 }, (_, i) => `  m${i}: {endpoints: [{network: ckmany}]}`).join('\n');
      writeFileSync(many, `version: 1\nname: kckm\nnetworks:\n  ckmany: {driver: bridge, subnet: 198.18.143.0/24}\nsandboxes:\n${sandboxes}\n`);
      await tsnetOk('apply', '--auto-approve', '-q', many);
    });
    afterAll(async () => {
      await tsnet('destroy', '--auto-approve', '-q', many);
      rmSync(many, { force: true });
    });

    it('--all-pairs samples past --max-pairs: how many of how many, every sandbox sends and is probed, the same pairs each run', async () => {
      const res = await tsnet('check', '--all-pairs', '--max-pairs', '16', '--seed', '5', many);
      expect(res.code, res.all).toBe(0);
      expect(res.stdout).toContain(
        'All pairs on network ckmany (IPv4): 16 of 132 pairs, sampled (a ring through all 12 endpoints in a shuffled order, then random pairs; seed 5: the same pairs every run); 16 reached.',
      );
      expect(res.stdout).not.toContain('Checks:'); // the file has none
      const pairsOf = async (seed: string) => {
        const doc = JSON.parse((await tsnetOk('check', '--json', '--all-pairs', '--max-pairs', '16', '--seed', seed, many)) || '{}') as { results: { from: string; to: string }[] };
        expect(checkSchemaErrors(doc)).toEqual([]);
        return doc.results.map((r) => `${r.from}>${r.to}`);
      };
      const first = await pairsOf('5');
      expect(first).toHaveLength(16);
      expect(new Set(first.map((p) => p.split('>')[0])).size).toBe(12);
      expect(new Set(first.map((p) => p.split('>')[1]!.replace('.eth0', ''))).size).toBe(12);
      expect(await pairsOf('5')).toEqual(first);
      expect(await pairsOf('6')).not.toEqual(first);
    });
  });

  it('the Python 3 probes (for ssh hosts without node) get the same results from the same kernel', async () => {
    const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
    expect(python, 'python3 is needed for this test (Debian: python3-minimal)').toBeDefined();
    const { topology } = await loadChecked(FILE);
    const runners = new Map([['local', new LocalRunner('local')]]);
    const plan = planProbes(topology, { maxPairs: 10, seed: 1 });
    const run = await runProbes(plan, runners, { timeoutMs: 1000, deadlineMs: 60_000, parallel: 8, toolsFor: async () => ({ client: { kind: 'python3', path: python! }, ping: 'ping' }) });
    const got = run.results.map((r) => `${r.ok ? 'ok' : 'FAIL'} ${r.probe.from} -> ${r.probe.address} ${r.port?.kind ?? r.icmp?.kind}`);
    expect(got.filter((g) => g.startsWith('FAIL'))).toEqual([]);
    expect(got).toContain('ok b -> 198.18.140.10 answered');
    expect(got).toContain('ok c -> 2001:db8:140::10 connected');
    expect(run.listeners.every((l) => l.state.kind === 'tsnet')).toBe(true);
    expect(listenerProcesses()).toEqual([]);
    const pyListeners = labProcesses((c) => c.includes('proto, port, life, addrs = sys.argv'));
    expect(pyListeners).toEqual([]);
  });

  it('a host without node or python3: each port check is an error naming what is missing; ICMP checks still run', async () => {
    const { topology } = await loadChecked(FILE);
    const runners = new Map([['local', new LocalRunner('local')]]);
    const plan = planProbes(topology, { maxPairs: 10, seed: 1 });
    const run = await runProbes(plan, runners, { timeoutMs: 1000, deadlineMs: 60_000, parallel: 8, toolsFor: async () => ({ ping: 'ping' }) });
    const missing = 'host "local" (this machine) has neither node nor python3, which tcp and udp checks need there';
    for (const r of run.results) {
      if (r.probe.port) expect(r.port, JSON.stringify(r)).toEqual({ kind: 'error', detail: missing, ms: 0 });
      if (r.probe.port) expect(r.ok).toBe(false);
      else expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    expect(run.listeners.every((l) => l.state.kind === 'none' && l.state.why === missing)).toBe(true);
  });

  it('SIGTERM while the probes run: tsnet stops its listeners before it ends', async () => {
    // Blocked checks wait their whole timeout: 20 s here, time enough to interrupt.
    const running = start(['node', join(ROOT, 'bin', 'tsnet.js'), 'check', '--timeout', '20s', FILE], { env: { NO_COLOR: '1' } });
    try {
      await eventually(() => expect(listenerProcesses().length).toBeGreaterThan(0), 30_000);
      running.kill('SIGTERM');
      const res = await running.done;
      expect(res.signal).toBe('SIGTERM');
      expect(listenerProcesses()).toEqual([]);
    } finally {
      running.kill('SIGKILL');
    }
  });

  it('the deadline: probes it leaves unstarted fail as not run', async () => {
    const res = await tsnet('check', '--deadline', '1s', '--timeout', '1s', '--parallel', '1', FILE);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('not run: the deadline (1s) passed first');
    expect(listenerProcesses()).toEqual([]);
  });
});
