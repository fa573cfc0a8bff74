// What the kernel holds now, in the terms normalize() takes (stable allocation): addresses of
// owned endpoints, subnets of owned bridges, and the host routes a picked subnet must avoid.
import { formatCidr, parseCidr } from '../model/addresses.js';
import type { Held } from '../model/normalize.js';
import { parseMark } from './ownership.js';
import type { LiveState } from './types.js';

export function heldFrom(live: LiveState, topology: string): Held {
  const endpoints = new Map<string, string[]>();
  const subnets = new Map<string, string[]>();
  const hostRoutes = new Map<string, string[]>();
  for (const [host, state] of live.hosts) {
    const ownedDevs = new Set<string>();
    for (const link of state.root.links) {
      const mark = parseMark(link.alias);
      if (mark?.topology !== topology) continue;
      ownedDevs.add(link.ifname);
      if (mark.address.startsWith('network.') && !mark.address.includes('/')) {
        const name = mark.address.slice('network.'.length);
        const cidrs = link.addresses.filter((a) => a.scope === 'global').map((a) => formatCidr(parseCidr(a.cidr, false)!));
        subnets.set(name, [...(subnets.get(name) ?? []), ...cidrs]);
      }
    }
    for (const ns of state.namespaces.values()) {
      for (const link of ns.links) {
        const mark = parseMark(link.alias);
        if (mark?.topology !== topology || !mark.address.startsWith('endpoint.')) continue;
        endpoints.set(mark.address, link.addresses.filter((a) => a.scope === 'global').map((a) => a.cidr));
      }
    }
    hostRoutes.set(
      host,
      state.root.routes.filter((r) => r.dst !== 'default' && !(r.dev && ownedDevs.has(r.dev))).map((r) => r.dst),
    );
  }
  return { endpoints, subnets, hostRoutes };
}
