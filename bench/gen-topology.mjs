#!/usr/bin/env node
// bench/gen-topology.mjs N [name]: a topology of N sandboxes on one bridge network, each with
// one endpoint and the automatic default route: the benchmark's workload.
const n = Number(process.argv[2] ?? 50);
const name = process.argv[3] ?? 'bench';
const lines = [
  'version: 1',
  `name: ${name}`,
  'networks:',
  '  net:',
  '    driver: bridge',
  '    bridge: tsn-bench',
  '    subnet: 198.18.0.0/16',
  'sandboxes:',
];
for (let i = 0; i < n; i++) lines.push(`  s${i}:`, '    endpoints:', '      - network: net');
process.stdout.write(`${lines.join('\n')}\n`);
