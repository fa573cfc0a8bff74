#!/usr/bin/env node
// The benchmark (`npm run bench`: bench/setup.sh, then this inside scripts/lab). For each N it builds the
// same N-sandbox bridge topology four ways and reports medians over repeated runs, with ratios
// against the hand-written batch measured in the same run; then plan against a raw read,
// destroy against a raw batch deletion, adding one sandbox to N, peak memory, start-up time,
// and the pure planner at 10,000 sandboxes. Results: bench/results/results.json and README.md.
//
// Environment: BENCH_N (default "50,200,1000"), BENCH_REPEATS (default 5; 3 at N >= 1000).
// `node bench/run.mjs --report` writes the Markdown table again from results.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLEANUP, prepare } from './baselines.mjs';
import { checkLab } from '../dist/lab-check.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSNET = join(ROOT, 'bin', 'tsnet.js');
const RESULTS = join(ROOT, 'bench', 'results');

// --report: write bench/results/README.md again from results.json (no measuring, no lab).
if (process.argv.includes('--report')) {
  const r = JSON.parse(readFileSync(join(RESULTS, 'results.json'), 'utf8'));
  writeFileSync(join(RESULTS, 'README.md'), report(r));
  process.exit(0);
}

if (!checkLab().inLab) {
  console.error('bench/run.mjs runs inside the lab only: npm run bench (scripts/lab node bench/run.mjs)');
  process.exit(1);
}

function run(argv, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) }, maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${argv.join(' ')} exited ${r.status}:\n${String(r.stderr).slice(-2000)}\n${String(r.stdout).slice(-2000)}`);
  }
  return { ms, stdout: String(r.stdout), stderr: String(r.stderr), status: r.status };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Removes everything and waits until the kernel has freed the namespaces' links. */
function cleanup() {
  run(CLEANUP, { allowFail: true });
  for (let i = 0; i < 200; i++) {
    const links = run(['ip', '-o', 'link', 'show'], { allowFail: true }).stdout.split('\n').filter((l) => /: (bv\d+|tsv[0-9a-f]+|veth[0-9a-f]+)[@:]/.test(l));
    if (!links.length) return;
    spawnSync('sleep', ['0.05']);
  }
  throw new Error('links of deleted namespaces did not go away');
}

/** The CNI plugins, installed by bench/setup.sh before the lab (which has no network) is entered. */
function ensureCni() {
  if (existsSync('/usr/lib/cni/bridge') && existsSync('/usr/lib/cni/loopback') && existsSync('/usr/lib/cni/host-local')) return true;
  console.error('containernetworking-plugins are not installed (bench/setup.sh installs them): the CNI baseline is not measured');
  return false;
}

function topology(n, extra = 0) {
  const file = join(work, `bench-${n}${extra ? `-plus${extra}` : ''}.yaml`);
  writeFileSync(file, run(['node', join(ROOT, 'bench', 'gen-topology.mjs'), String(n + extra), 'bench']).stdout);
  return file;
}

function countNamespaces() {
  return existsSync('/run/netns') ? readdirSync('/run/netns').length : 0;
}

const work = mkdtempSync(join(tmpdir(), 'tsnet-bench-'));
const Ns = (process.env.BENCH_N ?? '50,200,1000').split(',').map(Number);
const results = {
  date: new Date().toISOString(),
  machine: {
    kernel: release(),
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    iproute2: run(['ip', '-V']).stdout.trim(),
  },
  build: {},
  startup: {},
  planner: {},
};
const haveCni = ensureCni();

for (const n of Ns) {
  const repeats = Number(process.env.BENCH_REPEATS ?? (n >= 1000 ? 3 : 5));
  const file = topology(n);
  const methods = {
    tsnet: ['node', TSNET, 'apply', '--auto-approve', '-q', file],
    batch: prepare('batch', n, join(work, `batch-${n}`)),
    naive: prepare('naive', n, join(work, `naive-${n}`)),
    ...(haveCni ? { cni: prepare('cni', n, join(work, `cni-${n}`)) } : {}),
  };
  const times = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
  let rss = 0;
  console.error(`N=${n}: build ${repeats}x each (${Object.keys(methods).join(', ')})`);
  for (let r = 0; r < repeats; r++) {
    // Rotate the order so no method always runs on a warmer or colder kernel.
    const order = Object.keys(methods);
    for (let k = 0; k < r % order.length; k++) order.push(order.shift());
    for (const m of order) {
      cleanup();
      if (m === 'cni') rmSync(join(work, `cni-${n}`, 'ipam'), { recursive: true, force: true });
      const res = run(methods[m], m === 'tsnet' ? { env: { TSNET_REPORT_RSS: '1' } } : {});
      if (countNamespaces() !== n) throw new Error(`${m} made ${countNamespaces()} namespaces, not ${n}`);
      times[m].push(res.ms);
      const kb = /tsnet-max-rss-kb (\d+)/.exec(res.stderr);
      if (kb) rss = Math.max(rss, Number(kb[1]));
    }
  }
  const entry = { n, repeats, build: {}, peakRssMb: Math.round(rss / 1024) };
  for (const [m, xs] of Object.entries(times)) entry.build[m] = { medianMs: Math.round(median(xs)), perSandboxMs: +(median(xs) / n).toFixed(2), runs: xs.map(Math.round) };

  // plan with nothing to do, against the raw read; then destroy against one batch of deletions.
  cleanup();
  run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
  const read = prepare('read', n, join(work, `read-${n}`));
  const planTimes = [];
  const readTimes = [];
  for (let r = 0; r < repeats; r++) {
    const p = run(['node', TSNET, 'plan', '--detailed-exitcode', '-q', file]);
    if (!p.stdout.includes('No changes')) throw new Error(`plan after apply is not empty:\n${p.stdout}`);
    planTimes.push(p.ms);
    readTimes.push(run(read).ms);
  }
  entry.plan = { tsnetMs: Math.round(median(planTimes)), rawReadMs: Math.round(median(readTimes)) };
  const destroyTimes = [];
  const quickTimes = [];
  const deleteTimes = [];
  const del = prepare('delete', n, join(work, `delete-${n}`));
  for (let r = 0; r < repeats; r++) {
    cleanup();
    run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
    destroyTimes.push(run(['node', TSNET, 'destroy', '--auto-approve', '-q', file]).ms);
    if (countNamespaces() !== 0) throw new Error('destroy left namespaces');
    cleanup();
    run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
    quickTimes.push(run(['node', TSNET, 'destroy', '--auto-approve', '-q', '--no-refresh', file]).ms);
    if (countNamespaces() !== 0) throw new Error('destroy --no-refresh left namespaces');
    cleanup();
    run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
    deleteTimes.push(run(del).ms);
  }
  entry.destroy = { tsnetMs: Math.round(median(destroyTimes)), noRefreshMs: Math.round(median(quickTimes)), rawDeleteMs: Math.round(median(deleteTimes)) };

  // One sandbox added to an applied topology: plan + apply, and the processes it starts.
  if (n >= 200) {
    cleanup();
    run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
    const plus = topology(n, 1);
    const trace = join(work, 'trace.log');
    rmSync(trace, { force: true });
    const p = run(['node', TSNET, 'plan', '-q', plus], { env: { TSNET_TRACE: trace } });
    const planTrace = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
    rmSync(trace, { force: true });
    const a = run(['node', TSNET, 'apply', '--auto-approve', '-q', plus], { env: { TSNET_TRACE: trace } });
    const applyTrace = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
    const count = (t) => t.split('\n').filter(Boolean).reduce((s, l) => s + Number(/^(\d+) /.exec(l)?.[1] ?? 1), 0);
    // The same with --no-refresh: the other sandboxes come from the state the last apply
    // verified (src/state/cache.ts) instead of being read again.
    cleanup();
    run(['node', TSNET, 'apply', '--auto-approve', '-q', file]);
    rmSync(trace, { force: true });
    const q = run(['node', TSNET, 'apply', '--auto-approve', '-q', '--no-refresh', plus], { env: { TSNET_TRACE: trace } });
    const quickTrace = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
    const check = run(['node', TSNET, 'plan', '--detailed-exitcode', '-q', plus]);
    if (!check.stdout.includes('No changes')) throw new Error(`apply --no-refresh left changes:\n${check.stdout}`);
    entry.addOne = {
      planMs: Math.round(p.ms),
      applyMs: Math.round(a.ms),
      totalMs: Math.round(p.ms + a.ms),
      applyProcesses: count(applyTrace),
      applyProcessesBeyondRead: count(applyTrace) - count(planTrace),
      noRefreshApplyMs: Math.round(q.ms),
      noRefreshProcesses: count(quickTrace),
      trace: applyTrace.split('\n').filter(Boolean).slice(0, 12),
      noRefreshTrace: quickTrace.split('\n').filter(Boolean),
    };
  }
  cleanup();
  results.build[n] = entry;
  console.error(JSON.stringify(entry));
}

// Start-up: tsnet --version and validate against bare node.
{
  const small = join(ROOT, 'examples', 'bridge.yaml');
  const big = topology(1000);
  const t = (argv) => median(Array.from({ length: 10 }, () => run(argv).ms));
  results.startup = {
    nodeMs: Math.round(t(['node', '-e', '0'])),
    versionMs: Math.round(t(['node', TSNET, '--version'])),
    validateSmallMs: Math.round(t(['node', TSNET, 'validate', '-q', small])),
    validate1000Ms: Math.round(t(['node', TSNET, 'validate', '-q', big])),
  };
}
// The pure planner on a synthetic 10,000-sandbox topology and state.
results.planner = JSON.parse(run(['node', join(ROOT, 'bench', 'planner.mjs'), '10000']).stdout);

mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(RESULTS, 'README.md'), report(results));
rmSync(work, { recursive: true, force: true });
console.log(report(results));

function report(r) {
  const x = (a, b) => (b ? `${(a / b).toFixed(2)}x` : '-');
  const lines = [
    '# Benchmark results',
    '',
    `Measured ${r.date.slice(0, 10)} by \`npm run bench\` on ${r.machine.cores} cores (${r.machine.cpu}), Linux ${r.machine.kernel}, ${r.machine.iproute2}, Node ${r.machine.node}. Medians; ratios are against the hand-written batch measured in the same run (lower is better).`,
    '',
    '## Building N sandboxes from empty',
    '',
    '| N | tsnet apply | hand-written batch | one `ip` per command | CNI bridge plugin | tsnet vs batch | script vs batch | CNI vs batch | script vs tsnet | CNI vs tsnet |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const e of Object.values(r.build)) {
    const b = e.build;
    lines.push(
      `| ${e.n} | ${b.tsnet.medianMs} ms (${b.tsnet.perSandboxMs}/sandbox) | ${b.batch.medianMs} ms (${b.batch.perSandboxMs}) | ${b.naive.medianMs} ms (${b.naive.perSandboxMs}) | ${b.cni ? `${b.cni.medianMs} ms (${b.cni.perSandboxMs})` : 'not installed'} | ${x(b.tsnet.medianMs, b.batch.medianMs)} | ${x(b.naive.medianMs, b.batch.medianMs)} | ${b.cni ? x(b.cni.medianMs, b.batch.medianMs) : '-'} | ${x(b.naive.medianMs, b.tsnet.medianMs)} | ${b.cni ? x(b.cni.medianMs, b.tsnet.medianMs) : '-'} |`,
    );
  }
  lines.push(
    '',
    '## Reading and removing',
    '',
    '| N | tsnet plan (no changes) | raw parallel read | ratio | tsnet destroy | destroy --no-refresh | raw batch deletion | ratio (--no-refresh) | peak RSS of tsnet apply |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const e of Object.values(r.build)) {
    lines.push(
      `| ${e.n} | ${e.plan.tsnetMs} ms | ${e.plan.rawReadMs} ms | ${x(e.plan.tsnetMs, e.plan.rawReadMs)} | ${e.destroy.tsnetMs} ms | ${e.destroy.noRefreshMs} ms | ${e.destroy.rawDeleteMs} ms | ${x(e.destroy.tsnetMs, e.destroy.rawDeleteMs)} (${x(e.destroy.noRefreshMs, e.destroy.rawDeleteMs)}) | ${e.peakRssMb} MB |`,
    );
  }
  const adds = Object.values(r.build).filter((e) => e.addOne);
  if (adds.length) {
    lines.push(
      '',
      '## Adding one sandbox to an applied topology',
      '',
      '| N | plan | apply | plan + apply | processes started by apply | of them beyond the read | `apply --no-refresh` (end to end) | its processes |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const e of adds)
      lines.push(
        `| ${e.n} | ${e.addOne.planMs} ms | ${e.addOne.applyMs} ms | ${e.addOne.totalMs} ms | ${e.addOne.applyProcesses} | ${e.addOne.applyProcessesBeyondRead} | ${e.addOne.noRefreshApplyMs} ms | ${e.addOne.noRefreshProcesses} (${e.addOne.noRefreshTrace.map((l) => l.replace(/^\d+ /, '')).join('; ')}) |`,
      );
  }
  lines.push(
    '',
    '## Start-up and the planner',
    '',
    `| bare \`node -e 0\` | \`tsnet --version\` | \`tsnet validate\` (small file) | \`tsnet validate\` (1000 sandboxes) | planner, 10,000 sandboxes |`,
    '|---|---|---|---|---|',
    `| ${r.startup.nodeMs} ms | ${r.startup.versionMs} ms (+${r.startup.versionMs - r.startup.nodeMs}) | ${r.startup.validateSmallMs} ms (+${r.startup.validateSmallMs - r.startup.nodeMs}) | ${r.startup.validate1000Ms} ms | ${r.planner.planMs} ms plan (${r.planner.normalizeMs} ms normalize, ${r.planner.expandMs} ms expand) |`,
    '',
  );
  return `${lines.join('\n')}\n`;
}
