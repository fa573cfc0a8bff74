#!/usr/bin/env node
// bench/compare.mjs OTHER [N] [ROUNDS]: this tree against another checkout of tsnet (built, e.g.
// `git worktree add ../base <commit> && cd ../base && npm ci && npm run build`), timed in turns in
// one run, so that both see the same machine: apply of N sandboxes, plan with nothing to do,
// adding one sandbox with `apply --no-refresh`, destroy. Medians, and this tree's time as a
// ratio of the other's. Run inside the lab: scripts/lab node bench/compare.mjs ../base 1000 3
//
// `npm run bench` measures one tree against hand-written baselines; this is for "did a change
// make a figure worse": figures of two separate runs differ by more than 10% on a busy machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLEANUP } from './baselines.mjs';
import { checkLab } from '../dist/lab-check.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [otherArg, nArg = '1000', roundsArg = '3'] = process.argv.slice(2);
if (!otherArg) {
  console.error('usage: scripts/lab node bench/compare.mjs OTHER-CHECKOUT [N] [ROUNDS]');
  process.exit(1);
}
if (!checkLab().inLab) {
  console.error('bench/compare.mjs runs inside the lab only: scripts/lab node bench/compare.mjs ...');
  process.exit(1);
}
const n = Number(nArg);
const rounds = Number(roundsArg);
const trees = { this: ROOT, other: resolve(otherArg) };

function run(argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}:\n${String(r.stderr).slice(-2000)}`);
  return { ms, stdout: String(r.stdout) };
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Removes everything and waits until the kernel has freed the deleted namespaces' links. */
function cleanup() {
  run(CLEANUP);
  for (let i = 0; i < 200; i++) {
    const links = run(['ip', '-o', 'link', 'show']).stdout.split('\n').filter((l) => /: (tsn-|tsv[0-9a-f]+)/.test(l));
    if (!links.length) return;
    spawnSync('sleep', ['0.05']);
  }
  throw new Error('links of deleted namespaces did not go away');
}

const work = mkdtempSync(join(tmpdir(), 'tsnet-compare-'));
const file = join(work, 'bench.yaml');
const plus = join(work, 'bench-plus1.yaml');
writeFileSync(file, run(['node', join(ROOT, 'bench', 'gen-topology.mjs'), String(n), 'bench']).stdout);
writeFileSync(plus, run(['node', join(ROOT, 'bench', 'gen-topology.mjs'), String(n + 1), 'bench']).stdout);

const figures = ['apply', 'plan', 'addOneNoRefresh', 'destroy'];
const times = Object.fromEntries(Object.keys(trees).map((t) => [t, Object.fromEntries(figures.map((f) => [f, []]))]));
for (let r = 0; r < rounds; r++) {
  // Alternate which tree goes first.
  const order = r % 2 ? ['other', 'this'] : ['this', 'other'];
  for (const t of order) {
    const tsnet = (...args) => run(['node', join(trees[t], 'bin', 'tsnet.js'), ...args]);
    cleanup();
    const x = times[t];
    x.apply.push(tsnet('apply', '--auto-approve', '-q', file).ms);
    const p = tsnet('plan', '--detailed-exitcode', '-q', file);
    if (!p.stdout.includes('No changes')) throw new Error(`${t}: plan after apply is not empty`);
    x.plan.push(p.ms);
    x.addOneNoRefresh.push(tsnet('apply', '--auto-approve', '-q', '--no-refresh', plus).ms);
    x.destroy.push(tsnet('destroy', '--auto-approve', '-q', plus).ms);
    console.error(`round ${r + 1} ${t}: ${figures.map((f) => `${f} ${Math.round(x[f].at(-1))} ms`).join(', ')}`);
  }
}
cleanup();
rmSync(work, { recursive: true, force: true });

const result = { n, rounds, this: trees.this, other: trees.other, figures: {} };
for (const f of figures) {
  const a = median(times.this[f]);
  const b = median(times.other[f]);
  result.figures[f] = { thisMs: Math.round(a), otherMs: Math.round(b), ratio: +(a / b).toFixed(3) };
}
console.log(JSON.stringify(result, null, 2));
