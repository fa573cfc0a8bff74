#!/usr/bin/env node
// scripts/capture-state.mjs DIR [HOST]: writes the live state of this machine (run it inside
// scripts/lab) as the raw `ip -d -json -batch` output that tsnet reads, for golden plan cases:
//   DIR/state/HOST/root.json            the host's own stack
//   DIR/state/HOST/netns/NAME.json      each named namespace
//   DIR/state/HOST/sysctls/NAME.txt     `sysctl` output, when TSNET_CAPTURE_SYSCTLS lists keys
//   DIR/state/HOST/root-sysctls.txt     the same for the host's own stack
//   DIR/state/HOST/nft.json             `nft -j list ruleset`, when the stack has any table
//   DIR/state/HOST/tc/NAME.json         `tc -r -json qdisc show` (root.json: the own stack), where a
//                                       link holds a qdisc other than noqueue
import { mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { checkLab } from '../dist/lab-check.js';

const [dir, host = 'local'] = process.argv.slice(2);
if (!dir || !checkLab().inLab) {
  console.error('usage: scripts/lab node scripts/capture-state.mjs DIR [HOST]  (inside the lab only)');
  process.exit(1);
}
const lines = 'link show\naddr show\nroute show table all\n';
const read = (ns) =>
  execFileSync(ns ? 'nsenter' : 'ip', ns ? [`--net=/run/netns/${ns}`, '--', 'ip', '-d', '-json', '-batch', '-'] : ['-d', '-json', '-batch', '-'], { input: lines }).toString();
const base = join(dir, 'state', host);
mkdirSync(join(base, 'netns'), { recursive: true });
writeFileSync(join(base, 'root.json'), read(null));
let names = [];
try {
  names = readdirSync('/run/netns');
} catch {}
for (const ns of names) writeFileSync(join(base, 'netns', `${ns}.json`), read(ns));
const keys = (process.env.TSNET_CAPTURE_SYSCTLS ?? '').split(',').filter(Boolean);
if (keys.length) {
  mkdirSync(join(base, 'sysctls'), { recursive: true });
  for (const ns of names) {
    const out = execFileSync('nsenter', [`--net=/run/netns/${ns}`, '--', 'sysctl', '-e', ...keys]).toString();
    writeFileSync(join(base, 'sysctls', `${ns}.txt`), out);
  }
}
if (keys.length) writeFileSync(join(base, 'root-sysctls.txt'), execFileSync('sysctl', ['-e', ...keys]).toString());
let ruleset = '';
try {
  ruleset = execFileSync('nft', ['-j', 'list', 'ruleset']).toString();
} catch {
  // no nft: no tables
}
const tc = (ns) => execFileSync(ns ? 'nsenter' : 'tc', ns ? [`--net=/run/netns/${ns}`, '--', 'tc', '-r', '-json', 'qdisc', 'show'] : ['-r', '-json', 'qdisc', 'show']).toString();
for (const ns of [null, ...names]) {
  const out = tc(ns);
  // Only where a link holds something but the default (the lab's own links, e.g. lo, hold noqueue).
  if (!JSON.parse(out || '[]').some((q) => q.root && q.kind !== 'noqueue')) continue;
  mkdirSync(join(base, 'tc'), { recursive: true });
  writeFileSync(join(base, 'tc', `${ns ?? 'root'}.json`), out);
}
if (ruleset.includes('"table"')) writeFileSync(join(base, 'nft.json'), ruleset);
console.log(`captured ${host}: own stack and ${names.length} namespaces into ${base}`);
