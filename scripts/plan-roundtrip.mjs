#!/usr/bin/env node
// scripts/plan-roundtrip.mjs FILE (inside scripts/lab only): checks a plan's do and undo lines
// on the real kernel. It plans FILE, runs every step's do lines in plan order, checks that a new
// plan finds nothing to do, then runs every step's undo commands in reverse order and checks
// that the plan is the same as at the start, i.e. the undo put the kernel back. Local host only.
import { execFileSync } from 'node:child_process';
import { checkLab } from '../dist/lab-check.js';

const file = process.argv[2];
if (!file || !checkLab().inLab) {
  console.error('usage: scripts/lab node scripts/plan-roundtrip.mjs FILE  (inside the lab only)');
  process.exit(1);
}
const tsnet = (args) => {
  try {
    return execFileSync('./bin/tsnet.js', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return e.stdout + e.stderr;
  }
};
const planJson = () => JSON.parse(tsnet(['plan', '--json', file]));
const planText = () => tsnet(['plan', file]);

/** Runs lines of one tool in a namespace (null: the own stack); throws with the failing output. */
function run(ns, tool, lines) {
  const enter = ns ? ['nsenter', `--net=/run/netns/${ns}`, '--'] : [];
  if (tool === 'sysctl') {
    for (const l of lines) execFileSync(enter[0] ?? 'sysctl', [...enter.slice(1), ...(ns ? ['sysctl'] : []), '-qw', l.join(' ')]);
    return;
  }
  const [prog, ...args] = [...enter, tool, ...(tool === 'nft' ? ['-f', '-'] : ['-batch', '-'])];
  execFileSync(prog, args, { input: lines.map((l) => l.join(' ')).join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

const before = planText();
const plan = planJson();
if (plan.errors.length) {
  console.log('roundtrip skipped: the plan has errors');
  process.exit(0);
}
const failures = [];
for (const s of plan.steps) {
  try {
    run(s.ns, s.tool, s.do);
  } catch (e) {
    failures.push(`do of ${s.id}: ${e.stderr ?? e.message}`);
    break;
  }
}
const afterDo = planText();
if (!/^No changes/m.test(afterDo)) failures.push(`after the do lines the plan is not empty:\n${afterDo}`);
for (const s of [...plan.steps].reverse()) {
  for (const u of s.undo) {
    try {
      run(u.ns, u.tool, [u.argv]);
    } catch (e) {
      failures.push(`undo of ${s.id} (${u.argv.join(' ')}): ${String(e.stderr ?? e.message).trim()}`);
    }
  }
}
const afterUndo = planText();
if (afterUndo !== before) failures.push(`after the undo lines the plan differs:\n--- before\n${before}\n--- after undo\n${afterUndo}`);
if (failures.length) {
  console.log(`roundtrip FAIL:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log(`roundtrip ok (${plan.steps.length} steps)`);
