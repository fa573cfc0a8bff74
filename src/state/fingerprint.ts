// A fingerprint of the live state a plan was made from: every object the topology owns, with
// the properties tsnet manages, plus whether the names the plan will create are free. A saved
// plan carries it; apply refuses the plan when the kernel no longer matches (terraform's
// "Saved plan is stale"), and says what changed.
import { createHash } from 'node:crypto';
import { HostView, ROUTE_PROTO } from '../appliers/common.js';
import { linkFingerprint } from '../appliers/registry.js';
import type { Plan } from '../planner/types.js';
import { parseMark } from './ownership.js';
import type { KLink, LiveState } from './types.js';

export interface Snapshot {
  sha256: string;
  lines: string[];
}

const linkLine = (l: KLink) =>
  [
    `link ${l.ns ?? '-'} ${l.ifname} ${parseMark(l.alias)?.address ?? '?'}`,
    `kind=${l.kind ?? '-'} mtu=${l.mtu} ${l.up ? 'up' : 'down'} mac=${l.mac}`,
    l.master ? `master=${l.master}` : '',
    l.hairpin ? 'hairpin' : '',
    l.addrGenMode ? `addrgenmode=${l.addrGenMode}` : '',
    ...linkFingerprint(l),
    `addrs=${l.addresses.filter((a) => a.scope !== 'host').map((a) => a.cidr).sort().join(',')}`,
  ]
    .filter(Boolean)
    .join(' ');

export function snapshot(live: LiveState, topology: string, plan: { steps: readonly Pick<Plan['steps'][number], 'host' | 'creates'>[] }, belongsTo: (host: string) => (sandboxAddress: string) => boolean): Snapshot {
  const lines: string[] = [];
  for (const [host, state] of live.hosts) {
    const view = new HostView(topology, state, belongsTo(host));
    const out: string[] = [];
    for (const [address, ns] of view.ownedNs) {
      const lo = ns.links.find((l) => l.ifname === 'lo');
      out.push(`ns ${ns.name} ${address} lo=${lo?.up ? 'up' : 'down'}`);
      for (const [k, v] of Object.entries(ns.sysctls).sort()) out.push(`sysctl ${ns.name} ${k}=${v}`);
      for (const r of ns.routes.filter((r) => r.protocol === ROUTE_PROTO)) out.push(`route ${ns.name} ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`);
    }
    for (const links of view.ownedLinks.values()) for (const l of links) out.push(linkLine(l));
    const vxlans = new Set([...view.ownedLinks.values()].flat().filter((l) => l.kind === 'vxlan').map((l) => l.ifname));
    for (const f of state.root.fdb) if (vxlans.has(f.dev) && f.dst) out.push(`fdb ${f.dev} ${f.mac} ${f.dst}`);
    for (const n of state.root.neigh) if (vxlans.has(n.dev) && n.permanent) out.push(`neigh ${n.dev} ${n.dst} ${n.lladdr ?? '-'}`);
    // tsnet's nftables table (its own by construction).
    if (state.nat) {
      out.push(`nft table ${state.nat.name}`);
      for (const c of state.nat.chains) {
        out.push(`nft chain ${c.name} ${c.base ?? '-'}`);
        for (const r of c.rules) out.push(`nft rule ${c.name} ${r.understood ? `${r.subnet} not via ${r.notOut}` : `(changed by hand, handle ${r.handle})`}`);
      }
    }
    // Names the plan creates: a foreign object taking one since would make the plan fail.
    for (const s of plan.steps) {
      if (s.host !== host) continue;
      for (const o of s.creates) {
        if (o.kind === 'netns' && state.namespaces.has(o.name) && !view.nsAddress.has(o.name)) out.push(`taken netns ${o.name}`);
        if (o.kind !== 'link') continue;
        const taken = (o.ns === null ? state.root : state.namespaces.get(o.ns))?.links.find((x) => x.ifname === o.name);
        if (taken && parseMark(taken.alias)?.topology !== topology) out.push(`taken link ${o.ns ?? '-'} ${o.name}`);
      }
    }
    lines.push(...out.sort().map((l) => `${host}: ${l}`));
  }
  return { sha256: createHash('sha256').update(lines.join('\n')).digest('hex'), lines };
}

/** What changed between two snapshots, as "- old" / "+ new" lines. */
export function snapshotDiff(before: readonly string[], after: readonly string[]): string[] {
  const a = new Set(before);
  const b = new Set(after);
  return [...before.filter((l) => !b.has(l)).map((l) => `- ${l}`), ...after.filter((l) => !a.has(l)).map((l) => `+ ${l}`)];
}
