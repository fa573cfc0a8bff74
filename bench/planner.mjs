#!/usr/bin/env node
// bench/planner.mjs N: the pure planner on a synthetic N-sandbox topology, against an empty
// kernel and against a kernel that already matches (state synthesized from the desired
// resources, as `ip -json` would show it). No kernel access. Prints JSON timings.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(join(ROOT, 'dist', p));
const { loadText } = await dist('model/load.js');
const { expand } = await dist('planner/desired.js');
const { plan } = await dist('planner/plan.js');
const { markText } = await dist('state/ownership.js');

const n = Number(process.argv[2] ?? 10000);
const text = execFileSync('node', [join(ROOT, 'bench', 'gen-topology.mjs'), String(n), 'bench']).toString();
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

let t = process.hrtime.bigint();
const loaded = loadText('bench.yaml', text);
const loadMs = ms(t);
if (!loaded.topology) throw new Error(JSON.stringify(loaded.diagnostics.slice(0, 3)));
t = process.hrtime.bigint();
const desired = expand(loaded.topology);
const expandMs = ms(t);

const empty = { hosts: new Map([['local', { host: 'local', root: ns(null), namespaces: new Map() }]]) };
t = process.hrtime.bigint();
const fromEmpty = plan({ topology: 'bench', hosts: ['local'], implicitHost: true, desired, live: empty });
const planEmptyMs = ms(t);

// A kernel that matches: every desired resource as the reader would see it.
function ns(name) {
  return { name, links: [], routes: [], sysctls: {}, fdb: [], neigh: [] };
}
const live = { hosts: new Map([['local', { host: 'local', root: ns(null), namespaces: new Map() }]]) };
const host = live.hosts.get('local');
let ifindex = 10;
const link = (o) => ({ ifindex: ifindex++, up: true, mac: '02:00:00:00:00:01', addresses: [], ...o });
for (const spec of desired.get('local').values()) {
  const mark = (a) => markText('bench', a);
  if (spec.kind === 'sandbox') {
    const s = ns(spec.netns);
    s.links.push(link({ ifname: 'lo', ns: spec.netns, kind: null, mtu: 65536, alias: mark(spec.address) }));
    host.namespaces.set(spec.netns, s);
  } else if (spec.kind === 'network') {
    host.root.links.push(link({ ifname: spec.ifname, ns: null, kind: 'bridge', mtu: spec.mtu, alias: mark(spec.address), addrGenMode: 'none', addresses: spec.addresses.map((c) => ({ family: 4, cidr: c, scope: 'global' })) }));
  }
}
for (const spec of desired.get('local').values()) {
  if (spec.kind === 'endpoint') {
    host.root.links.push(link({ ifname: spec.hostIfname, ns: null, kind: 'veth', mtu: spec.mtu, alias: mark2(spec.address + '/peer'), master: spec.master, addrGenMode: 'none' }));
    host.namespaces.get(spec.netns).links.push(link({ ifname: spec.ifname, ns: spec.netns, kind: 'veth', mtu: spec.mtu, alias: mark2(spec.address), addrGenMode: 'none', addresses: spec.addresses.map((c) => ({ family: 4, cidr: c, scope: 'global' })) }));
  } else if (spec.kind === 'route') {
    host.namespaces.get(spec.netns).routes.push({ family: spec.family, dst: spec.to, gateway: spec.via, dev: 'eth0', protocol: '116' });
  }
}
function mark2(a) {
  return markText('bench', a);
}
t = process.hrtime.bigint();
const steady = plan({ topology: 'bench', hosts: ['local'], implicitHost: true, desired, live });
const planMs = ms(t);
if (steady.changes.length || steady.errors.length) throw new Error(`synthetic matching state still plans changes: ${JSON.stringify(steady.changes.slice(0, 3))}`);

process.stdout.write(
  JSON.stringify({
    sandboxes: n,
    normalizeMs: Math.round(loadMs),
    expandMs: Math.round(expandMs),
    planFromEmptyMs: Math.round(planEmptyMs),
    planFromEmptySteps: fromEmpty.steps.length,
    planMs: Math.round(planMs),
  }) + '\n',
);
