// The rule that checks `shaping:` of networks and endpoints: every value parsed (units, ranges)
// and the shaping rules (src/model/shaping.ts) run on it, each problem reported at its line and
// column with the resource it concerns. `ingress` needs the other end of a link, which only a
// driver that has one provides (a veth's host end; macvlan has none).
import { findDriver } from '../appliers/registry.js';
import type { PreparedNetwork } from './prepare.js';
import type { Rule, Reporter } from './rules.js';
import { DEFAULT_MTU, readShaping, type ShapingFile } from './shaping.js';
import type { PathSegment } from './source.js';

interface Where {
  path: PathSegment[];
  resource: string;
  mtu: number;
  ingressAllowed: boolean;
}

function check(r: Reporter, raw: ShapingFile, at: Where): void {
  readShaping(
    raw,
    (code, message, path, hint, severity) => {
      const report = severity === 'warning' ? r.warning : r.error;
      report(code, message, [...at.path, 'shaping', ...path], { resource: at.resource, ...(hint ? { hint } : {}) });
    },
    { mtu: at.mtu, ingressAllowed: at.ingressAllowed },
  );
}

const isMapping = (v: unknown): v is ShapingFile => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasOtherEnd = (net: PreparedNetwork | undefined): boolean => findDriver(net?.raw.driver)?.otherEnd !== undefined;

export const shapingValues: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    const raw = (net.raw as { shaping?: unknown }).shaping;
    if (isMapping(raw)) check(r, raw, { path: net.path, resource: `network.${net.name}`, mtu: net.raw.mtu ?? DEFAULT_MTU, ingressAllowed: hasOtherEnd(net) });
  }
  for (const sb of p.sandboxes.values()) {
    for (const ep of sb.endpoints) {
      if (!isMapping(ep.raw.shaping)) continue;
      const net = p.networks.get(ep.raw.network);
      check(r, ep.raw.shaping, { path: ep.path, resource: ep.address, mtu: ep.raw.mtu ?? net?.raw.mtu ?? DEFAULT_MTU, ingressAllowed: net === undefined || hasOtherEnd(net) });
    }
  }
};
