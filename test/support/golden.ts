// Golden plan cases: test/fixtures/plan/<case>/ holds topology.yaml, the live state as the raw
// `ip -d -json -batch` output tsnet reads (state/<host>/root.json, state/<host>/netns/*.json,
// optionally state/<host>/sysctls/<ns>.txt, state/<host>/root-sysctls.txt and
// state/<host>/nft.json, `nft -j list ruleset`: no file means no nftables table; state/<host>/tc/<ns>.json
// and tc/root.json, `tc -r -json qdisc show`, where a link holds a non-default qdisc), and expected.txt: the plan as `tsnet plan` prints
// it, then every step with its do and undo lines (none when the plan has errors). `mode`
// (optional file) holds "destroy". scripts/golden-cases.sh rebuilds each case's state/ in the
// lab: apply, drift by hand, capture; scripts/golden-iproute2-5.10.mjs derives the iproute2-5.10-*
// cases from captured ones (what iproute2 5.10 prints, from its source).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasErrors, formatDiagnostic } from '../../src/model/diagnostics.js';
import { loadText, renormalize } from '../../src/model/load.js';
import { expand, type Spec } from '../../src/planner/desired.js';
import { plan, type PlanInput } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import type { Plan } from '../../src/planner/types.js';
import { heldFrom } from '../../src/state/held.js';
import { natTableName, parseNatTable } from '../../src/state/nft.js';
import { needsQdiscRead, parseDump, parseSysctls } from '../../src/state/read.js';
import { parseMark } from '../../src/state/ownership.js';
import { deviceQdiscs, parseTcQdiscs } from '../../src/state/tc.js';
import { emptyNamespace, type HostState, type KNamespace, type LiveState } from '../../src/state/types.js';

export const PLAN_CASES = join(import.meta.dirname, '..', 'fixtures', 'plan');

export function readLiveState(caseDir: string, hosts: readonly string[], topology: string): LiveState {
  const live: LiveState = { hosts: new Map() };
  for (const host of hosts) {
    const base = join(caseDir, 'state', host);
    const root = existsSync(join(base, 'root.json')) ? parseDump(null, readFileSync(join(base, 'root.json'), 'utf8')) : emptyNamespace(null);
    if (existsSync(join(base, 'root-sysctls.txt'))) root.sysctls = parseSysctls(readFileSync(join(base, 'root-sysctls.txt'), 'utf8'));
    const nftFile = join(base, 'nft.json');
    const nftText = existsSync(nftFile) ? readFileSync(nftFile, 'utf8') : '';
    const table = nftText.includes(`"${natTableName(topology)}"`) ? parseNatTable(nftText, natTableName(topology)) : null;
    const namespaces = new Map();
    const nsDir = join(base, 'netns');
    if (existsSync(nsDir)) {
      for (const f of readdirSync(nsDir).filter((f) => f.endsWith('.json')).sort()) {
        const name = f.slice(0, -'.json'.length);
        const ns = parseDump(name, readFileSync(join(nsDir, f), 'utf8'));
        const sysctlFile = join(base, 'sysctls', `${name}.txt`);
        if (existsSync(sysctlFile)) ns.sysctls = parseSysctls(readFileSync(sysctlFile, 'utf8'));
        namespaces.set(name, ns);
      }
    }
    attachQdiscs(join(base, 'tc'), root, namespaces, topology);
    live.hosts.set(host, { host, root, namespaces, nat: table } satisfies HostState);
  }
  return live;
}

/** The qdiscs tc showed (tc/<ns>.json, tc/root.json), on the topology's links, as readQdiscs puts them. */
function attachQdiscs(dir: string, root: KNamespace, namespaces: ReadonlyMap<string, KNamespace>, topology: string): void {
  if (!existsSync(dir)) return;
  for (const ns of [root, ...namespaces.values()]) {
    const file = join(dir, `${ns.name ?? 'root'}.json`);
    if (!existsSync(file) || !needsQdiscRead(ns, topology)) continue;
    const parsed = parseTcQdiscs(readFileSync(file, 'utf8'));
    if (!parsed.ok) throw new Error(`${file}: ${parsed.error}`);
    for (const l of ns.links) if (parseMark(l.alias)?.topology === topology) l.qdiscs = deviceQdiscs(parsed.devices, l.ifname);
  }
}

export function renderSteps(p: Plan): string {
  const lines: string[] = [];
  p.steps.forEach((s, i) => {
    lines.push(`${i + 1}. ${s.description} [${s.host}${s.ns ? ` ns=${s.ns}` : ''} ${s.tool}] ${s.id}`);
    if (s.after.length) lines.push(`   after: ${s.after.join(', ')}`);
    for (const d of s.do) lines.push(`   do:   ${d.join(' ')}`);
    for (const u of s.undo) lines.push(`   undo: ${u.ns ? `[ns=${u.ns}] ` : ''}${u.tool === 'ip' ? '' : `${u.tool} `}${u.argv.join(' ')}`);
  });
  return lines.join('\n');
}

/** Plans one case: the plan, or the diagnostics of a topology that does not load. */
export function planCase(caseDir: string, opts: Pick<PlanInput, 'appliers'> = {}): { plan: Plan; mode: string } | { invalid: string } {
  const text = readFileSync(join(caseDir, 'topology.yaml'), 'utf8');
  const mode = existsSync(join(caseDir, 'mode')) ? readFileSync(join(caseDir, 'mode'), 'utf8').trim() : 'apply';
  const first = loadText('topology.yaml', text);
  if (!first.topology || hasErrors(first.diagnostics)) {
    return { invalid: `invalid topology:\n${first.diagnostics.map((d) => formatDiagnostic(d, text)).join('\n')}\n` };
  }
  const hosts = [...first.topology.hosts.keys()];
  const live = readLiveState(caseDir, hosts, first.topology.name);
  const load = renormalize(first, heldFrom(live, first.topology.name));
  const t = load.topology!;
  const desired =
    mode === 'destroy' ? new Map(hosts.map((h) => [h, new Map<string, Spec>()])) : expand(t);
  const machines = new Map(
    [...t.hosts.values()].map((h) => [h.name, h.via.kind === 'ssh' ? `ssh:${h.via.destination}` : 'local']),
  );
  const p = plan({ topology: t.name, hosts, implicitHost: t.implicitHost, desired, live, machines, destroy: mode === 'destroy', ...opts });
  return { plan: p, mode };
}

/** Plans one case and renders it as expected.txt holds it. */
export function runCase(caseDir: string): string {
  const planned = planCase(caseDir);
  if ('invalid' in planned) return planned.invalid;
  const { plan: p, mode } = planned;
  // A plan with errors is never carried out: its steps are left out.
  const steps = p.errors.length ? '(none: the plan has errors)' : renderSteps(p);
  return `${renderPlan(p, { file: 'topology.yaml', destroy: mode === 'destroy' })}\n\n--- steps ---\n${steps}\n`;
}
