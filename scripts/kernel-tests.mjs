#!/usr/bin/env node
// scripts/kernel-tests.mjs [FILE...]: runs the kernel test files in several labs at once.
//
// Each lab (scripts/lab) is a private network and mount namespace, so files in different labs
// cannot see each other's namespaces, links, /run/netns or state: within a lab they still run
// one at a time (vitest.config.ts), so every file's before/after kernel dumps stay meaningful.
// Much of a kernel test's time is spent waiting on the kernel and on short-lived processes, so
// two labs on two cores finish well before one.
//
// Files are spread over the labs by their last measured duration (test/kernel/durations.json,
// longest first onto the least loaded lab); a file not listed counts as the median. Each lab's
// output is printed whole when it ends, then one line per lab. Exit status: 0 only when every
// lab passed.
//
//   TSNET_KERNEL_LABS=N    number of labs (default: 2, or 1 on a one-core machine)
//   TSNET_KERNEL_DURATIONS=1   rewrite test/kernel/durations.json from this run's timings
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kernelDir = join(root, 'test', 'kernel');
const durationsFile = join(kernelDir, 'durations.json');

const args = process.argv.slice(2);
const given = args.filter((a) => a.endsWith('.test.ts'));
const passThrough = args.filter((a) => !a.endsWith('.test.ts'));
const files = (given.length ? given.map((f) => relative(root, resolve(f))) : readdirSync(kernelDir).filter((f) => f.endsWith('.test.ts')).map((f) => `test/kernel/${f}`)).sort();

const requested = Number(process.env.TSNET_KERNEL_LABS ?? (availableParallelism() > 1 ? 2 : 1));
const labs = Math.max(1, Math.min(Number.isInteger(requested) ? requested : 1, files.length));

/** @type {Record<string, number>} */
let durations = {};
try {
  durations = JSON.parse(readFileSync(durationsFile, 'utf8'));
} catch {
  /* no timings yet: every file counts the same */
}
const known = Object.values(durations).sort((a, b) => a - b);
const median = known.length ? known[Math.floor(known.length / 2)] : 1;
const weight = (f) => durations[f] ?? median;

/** Longest first onto the lab with the least work so far. */
const groups = Array.from({ length: labs }, () => ({ files: [], load: 0 }));
for (const f of [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b))) {
  const g = groups.reduce((min, x) => (x.load < min.load ? x : min));
  g.files.push(f);
  g.load += weight(f);
}

const out = mkdtempSync(join(tmpdir(), 'tsnet-kernel-tests-'));
const started = Date.now();

function runLab(group, i) {
  const report = join(out, `lab-${i + 1}.json`);
  const argv = [join(root, 'scripts', 'lab'), 'npx', 'vitest', 'run', '--project', 'kernel', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...passThrough, ...group.files];
  return new Promise((done) => {
    const chunks = [];
    const child = spawn(argv[0], argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? (process.stdout.isTTY ? '1' : '0') } });
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(`\n===== lab ${i + 1}/${labs}: ${group.files.length} files, ${seconds.toFixed(0)} s =====\n`);
      process.stdout.write(Buffer.concat(chunks));
      done({ i, code: code ?? 1, signal, seconds, report });
    });
  });
}

// A Ctrl-C reaches every lab through the process group; the labs end and report.
const results = await Promise.all(groups.map(runLab));

let failed = 0;
const measured = { ...durations };
process.stdout.write('\n');
for (const r of results) {
  const g = groups[r.i];
  const ok = r.code === 0;
  if (!ok) failed++;
  process.stdout.write(`lab ${r.i + 1}/${labs}: ${ok ? 'passed' : `FAILED (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})`} in ${r.seconds.toFixed(0)} s: ${g.files.map((f) => f.replace('test/kernel/', '')).join(' ')}\n`);
  try {
    const doc = JSON.parse(readFileSync(r.report, 'utf8'));
    for (const t of doc.testResults) measured[relative(root, t.name)] = Math.round((t.endTime - t.startTime) / 100) / 10;
  } catch {
    /* the lab ended before writing its report */
  }
}
process.stdout.write(`kernel tests: ${labs} labs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (process.env.TSNET_KERNEL_DURATIONS === '1') {
  const present = new Set(readdirSync(kernelDir).map((f) => `test/kernel/${f}`));
  const sorted = Object.fromEntries(Object.entries(measured).filter(([f]) => present.has(f)).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(durationsFile, `${JSON.stringify(sorted, null, 2)}\n`);
  process.stdout.write(`wrote ${relative(process.cwd(), durationsFile)}\n`);
}
rmSync(out, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
