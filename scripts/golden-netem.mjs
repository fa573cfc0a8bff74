#!/usr/bin/env node
// scripts/golden-netem.mjs: writes the golden plan cases whose kernel holds netem qdiscs, from
// nochange-shaping (captured by scripts/golden-cases.sh). This machine's kernel has no sch_netem,
// so no netem state can be captured here: the tbf on each router's eth1 is turned into a netem,
// in `ip -json link` (its qdisc kind) and in `tc -r -json qdisc show`, in the shape tc 6.1 prints
// it (iproute2 tc/q_netem.c; the same shape as test/fixtures/tc/netem-6.1.json).
// Then write the expected plans: UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/plan-golden.test.ts
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const T = new URL('../test/fixtures/plan/', import.meta.url).pathname;
const FROM = 'nochange-shaping';
const NETNS = ['wan-rate-ra', 'wan-rate-rb'];

/** [case, netem options the kernel holds, the wan network's shaping in topology.yaml]. */
const CASES = [
  ['change-shaping-netem-delay', { delay: { delay: 0.01, jitter: 0, correlation: 0 } }, '{delay: 50ms}'],
  ['remove-shaping-netem-loss', { delay: { delay: 0.01, jitter: 0, correlation: 0 }, 'loss-random': { loss: 0.01, correlation: 0 } }, '{delay: 10ms}'],
];

for (const [name, options, shaping] of CASES) {
  const dir = join(T, name);
  rmSync(join(dir, 'state'), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(T, FROM, 'state'), join(dir, 'state'), { recursive: true });
  const topology = readFileSync(join(T, FROM, 'topology.yaml'), 'utf8').replace(/shaping: \{rate: 10mbit\}.*$/m, `shaping: ${shaping}`);
  writeFileSync(join(dir, 'topology.yaml'), `# Derived by scripts/golden-netem.mjs: the kernel holds netem on the routers' eth1.\n${topology}`);
  for (const ns of NETNS) {
    const ipFile = join(dir, 'state', 'local', 'netns', `${ns}.json`);
    const lines = readFileSync(ipFile, 'utf8').split('\n').map((l) => {
      if (!l.trim()) return l;
      const list = JSON.parse(l);
      for (const o of list) if (o.ifname === 'eth1' && o.qdisc) o.qdisc = 'netem';
      return JSON.stringify(list);
    });
    writeFileSync(ipFile, lines.join('\n'));
    const tcFile = join(dir, 'state', 'local', 'tc', `${ns}.json`);
    const qdiscs = JSON.parse(readFileSync(tcFile, 'utf8')).map((q) =>
      q.dev === 'eth1' && q.root ? { kind: 'netem', handle: '8001:', dev: 'eth1', root: true, refcnt: 2, options: { limit: 1000, ...options, ecn: false, gap: 0 } } : q,
    );
    writeFileSync(tcFile, JSON.stringify(qdiscs) + '\n');
  }
  console.log(`wrote ${name} (from ${FROM}; ${readdirSync(join(dir, 'state', 'local', 'tc')).length} tc files)`);
}
