// What every applier shares: small builders for commands and for the objects steps name, and
// the address helpers.
import { markText } from '../state/ownership.js';
import type { KLink } from '../state/types.js';
import type { Command, ObjectRef, Tool } from '../planner/types.js';
import type { PlanContext } from './types.js';

// The view of a host's state by ownership lives in view.ts; it is reached from here too.
export { HostView } from './view.js';

/** Routes tsnet adds carry this protocol number: that is their ownership mark. */
export const ROUTE_PROTO = '116';

/** Suffix of the mark on the host-side end of a veth pair. */
export const PEER_SUFFIX = '/peer';

/** The sandbox of an endpoint or route address ("web" for endpoint.web.eth0, route.web.default). */
export function sandboxOf(address: string): string {
  const dot = address.indexOf('.') + 1;
  return address.slice(dot, address.indexOf('.', dot));
}

/** The resource a mark's address belongs to: "endpoint.a.eth0/peer" -> "endpoint.a.eth0". */
export const markResource = (markAddress: string): string => {
  const slash = markAddress.indexOf('/');
  return slash < 0 ? markAddress : markAddress.slice(0, slash);
};

export const mark = (ctx: Pick<PlanContext, 'topology'>, address: string): string => markText(ctx.topology, address);

export interface CommandOptions {
  tool?: Tool;
  creates?: ObjectRef[];
  deletes?: ObjectRef[];
}

export function cmd(host: string, ns: string | null, argv: string[], o?: CommandOptions): Command {
  const c: Command = { host, ns, tool: o?.tool ?? 'ip', argv };
  if (o?.creates) c.creates = o.creates;
  if (o?.deletes) c.deletes = o.deletes;
  return c;
}

/** A namespace as an object of a step. */
export function netnsRef(host: string, name: string, mark?: string): ObjectRef {
  const o: ObjectRef = { kind: 'netns', host, ns: null, name };
  if (mark) o.mark = mark;
  return o;
}

/** A link as an object of a step. */
export function linkRef(host: string, ns: string | null, name: string, o?: { linkKind?: string | null; mark?: string }): ObjectRef {
  const ref: ObjectRef = { kind: 'link', host, ns, name };
  if (o?.linkKind) ref.linkKind = o.linkKind;
  if (o?.mark) ref.mark = o.mark;
  return ref;
}

/**
 * True when the link makes IPv6 addresses (its addrgenmode is not "none"). When `ip -d -json`
 * does not say (no inet6_addr_gen_mode: a kernel that reports no IPv6 settings for the link, as
 * older iproute2 output also lacks it), it is not taken as on: a change that cannot be seen
 * would be planned again after every apply.
 */
export const ipv6On = (link: KLink): boolean => link.addrGenMode !== undefined && link.addrGenMode !== 'none';

/** Addresses that count as configured on a link: global ones, and link-local ones when IPv6 should be off. */
export function managedAddresses(link: KLink, network: { ipv6: boolean }): string[] {
  const out: string[] = [];
  for (const a of link.addresses) {
    if (a.scope === 'host' || (a.scope === 'link' && (a.family !== 6 || network.ipv6))) continue;
    out.push(a.cidr);
  }
  return out;
}

/** `addr add` arguments; IPv6 without duplicate address detection, so it is usable at once. */
export const addrAdd = (cidr: string, dev: string): string[] =>
  cidr.includes(':') ? ['addr', 'add', cidr, 'dev', dev, 'nodad'] : ['addr', 'add', cidr, 'dev', dev];

export const addrDel = (cidr: string, dev: string): string[] => ['addr', 'del', cidr, 'dev', dev];

/**
 * Reasons for address differences, the commands that repair them (and undo the repair), and the
 * addresses deleted (the kernel drops a link's IPv4 routes with its last IPv4 address).
 */
export function diffAddresses(
  host: string,
  ns: string | null,
  dev: string,
  want: readonly string[],
  have: readonly string[],
): { reasons: string[]; lines: string[][]; undo: Command[]; removed: ObjectRef[] } {
  const reasons: string[] = [];
  const lines: string[][] = [];
  const undo: Command[] = [];
  const removed: ObjectRef[] = [];
  for (const a of have) {
    if (want.includes(a)) continue;
    reasons.push(`address ${a} is not in the topology`);
    lines.push(addrDel(a, dev));
    undo.push(cmd(host, ns, addrAdd(a, dev)));
    removed.push({ kind: 'addr', host, ns, name: a, dev });
  }
  for (const a of want) {
    if (have.includes(a)) continue;
    reasons.push(`address ${a} missing`);
    lines.push(addrAdd(a, dev));
    undo.push(cmd(host, ns, addrDel(a, dev)));
  }
  return { reasons, lines, undo, removed };
}
