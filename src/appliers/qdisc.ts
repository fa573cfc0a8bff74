// Qdiscs of shaped endpoints (issue 12): one resource per link end that shaping sets, e.g.
// `qdisc.r1.eth1` (what the sandbox sends, on its own interface) and `qdisc.r1.eth1/ingress`
// (what it receives, on the other end of the link, as the endpoint's driver says: a veth's host
// end). tc changes only links the topology owns, and only a root qdisc it can put back exactly:
// the undo of every step is built from the qdisc read before it (tcRestoreArgv); one it cannot
// rebuild (htb, pfifo_fast, settings tsnet never writes) is a plan error, never touched.
//
// Plans read as the endpoint's (`~ endpoint.r1.eth1` with `delay 10ms -> 50ms` below it): the
// final pass shapingReadsAsEndpoint moves each qdisc change into its endpoint's change.
import { describeQdisc, qdiscChanges, type Qdisc, type QdiscKind, type ShapingChange } from '../model/shaping.js';
import type { EndpointSpec, Spec } from '../planner/desired.js';
import type { HostPlan, ResourcePlan, StepDep } from '../planner/host-plan.js';
import type { Pass } from '../planner/passes.js';
import { checkLinkQdisc, diffQdisc, isDefaultQdiscKind, tcDeleteArgv, tcReplaceArgv, tcRestoreArgv, type DeviceQdiscs } from '../state/tc.js';
import type { KLink } from '../state/types.js';
import { cmd, markResource } from './common.js';
import { driverFor } from './registry.js';
import type { PlanContext, ResourceApplier } from './types.js';

export type Direction = 'egress' | 'ingress';

/** One link end a shaped endpoint sets a qdisc on. */
interface Device {
  endpoint: string;
  direction: Direction;
  ns: string | null;
  ifname: string;
  /** The mark address of the link (tsnet's: only such links are touched). */
  mark: string;
  want?: Qdisc;
}

export const qdiscAddress = (endpoint: string, direction: Direction): string => `qdisc.${endpoint.slice('endpoint.'.length)}${direction === 'ingress' ? '/ingress' : ''}`;
/** "qdisc.r1.eth1/ingress" -> "endpoint.r1.eth1". */
export const qdiscEndpoint = (address: string): string => `endpoint.${markResource(address).slice('qdisc.'.length)}`;

function device(ep: EndpointSpec, direction: Direction): Device | undefined {
  const want = ep.shaping?.[direction];
  const at = { endpoint: ep.address, direction, ...(want ? { want } : {}) };
  if (direction === 'egress') return { ...at, ns: ep.netns, ifname: ep.ifname, mark: ep.address };
  const other = driverFor(ep.driver).otherEnd?.(ep);
  return other && { ...at, ...other };
}

/** "t-r1/eth1", or "tsv1a2b3c4d (host)" for the host end of a veth. */
const where = (d: Device): string => (d.ns === null ? `${d.ifname} (host)` : `${d.ns}/${d.ifname}`);

/** What a link holds as tc would show it, when `ip -json link` already says it is the default. */
const defaultQdiscs = (link: KLink): DeviceQdiscs => ({ dev: link.ifname, root: { type: 'other', handle: '0:', kind: link.qdisc ?? 'noop' }, children: [], ingress: [] });

/** The qdisc a device holds, for the plan's `before` (null: the kernel default). */
const describeHeld = (q: DeviceQdiscs): string | null => (q.root.type === 'shaping' ? describeQdisc(q.root.qdisc) : isDefaultQdiscKind(q.root.kind) ? null : q.root.kind);

/** "qdisc none -> tbf rate 20mbit burst 10000b limit 135000b", "qdisc netem delay 10ms limit 1000 packets -> none". */
function wholeChange(held: DeviceQdiscs | undefined, want: Qdisc | undefined): ShapingChange {
  const before = held ? (describeHeld(held) ?? undefined) : undefined;
  const after = want ? describeQdisc(want) : undefined;
  return { key: 'qdisc', ...(before ? { before } : {}), ...(after ? { after } : {}), text: `qdisc ${before ?? 'none'} -> ${after ?? 'none'}` };
}

/** "qdisc htb", "netem delay 10ms limit 1000 packets with delay correlation 25%", "tbf ... with a qdisc under the root". */
function heldText(q: DeviceQdiscs): string {
  const extras = [...(q.root.type === 'shaping' ? q.root.extras : []), ...q.children.map((c) => `${c.kind} under the root`)];
  const root = q.root.type === 'shaping' ? describeQdisc(q.root.qdisc) : q.root.kind;
  return `qdisc ${root}${extras.length ? ` with ${extras.join(', ')}` : ''}`;
}

/** The endpoint's steps the qdisc waits for (those not in the plan are dropped). */
const afterEndpoint = (endpoint: string): StepDep[] => ['create', 'config', 'update-host', 'update'].map((phase) => ({ address: endpoint, phase }));

const reasonsOf = (d: Device, changes: readonly ShapingChange[]): string[] => changes.map((c) => (d.direction === 'ingress' ? `ingress ${c.text}` : c.text));

function step(ctx: PlanContext, r: ResourcePlan, d: Device, o: { do: string[]; undo: string[]; changes: ShapingChange[] }): void {
  r.step({
    phase: 'qdisc',
    ns: d.ns,
    tool: 'tc',
    action: 'update',
    description: `${d.want ? `set qdisc ${d.want.kind}` : 'remove the qdisc'} on ${where(d)}`,
    do: [o.do.slice(1)],
    undo: [cmd(ctx.host, d.ns, o.undo.slice(1), { tool: 'tc' })],
    after: afterEndpoint(d.endpoint),
  });
  r.setChange('update', d.want ? describeQdisc(d.want) : 'no qdisc', reasonsOf(d, o.changes));
}

/**
 * Plans one device. `fresh`: its link is made (again) by this plan, so it holds the kernel
 * default when the qdisc step runs, whatever it holds now.
 */
function planDevice(ctx: PlanContext, r: ResourcePlan, d: Device, fresh: boolean): void {
  const found = fresh ? undefined : ctx.view.owned(d.mark, d.ns);
  const link = found?.ifname === d.ifname ? found : undefined;
  if (!link) {
    r.have = { [d.direction]: null };
    if (d.want) step(ctx, r, d, { do: tcReplaceArgv(d.ifname, d.want), undo: tcDeleteArgv(d.ifname), changes: [wholeChange(undefined, d.want)] });
    return;
  }
  const held = checkLinkQdisc(link.qdisc, d.want?.kind).needsTc ? link.qdiscs : defaultQdiscs(link);
  if (!held) {
    r.error(`the qdiscs of ${where(d)} were not read (tc)`);
    return;
  }
  r.have = { [d.direction]: held.root.type === 'shaping' ? held.root.qdisc : isDefaultQdiscKind(held.root.kind) ? null : { kind: held.root.kind } };
  const diff = diffQdisc(d.want, held);
  if (!diff.length) return;
  // Added to the default, or taken away: the whole qdisc in one line; otherwise key by key.
  const whole = (held.root.type === 'other' && isDefaultQdiscKind(held.root.kind)) || (!d.want && held.root.type === 'shaping' && !held.root.extras.length && !held.children.length);
  const changes = whole ? [wholeChange(held, d.want)] : diff;
  const restore = tcRestoreArgv(held);
  if (!restore) {
    r.error(
      `${where(d)} holds ${heldText(held)}, which tsnet cannot put back exactly if the apply fails: it does not touch it; remove it by hand (tc qdisc del dev ${d.ifname} root${d.ns ? `, in namespace ${d.ns}` : ''}) and plan again`,
    );
    return;
  }
  step(ctx, r, d, { do: d.want ? tcReplaceArgv(d.ifname, d.want) : tcDeleteArgv(d.ifname), undo: restore, changes });
}

/** A device needs planning when shaping wants a qdisc there or its link holds something but the default. */
function needsPlan(ctx: PlanContext, d: Device): boolean {
  if (d.want) return true;
  const link = ctx.view.owned(d.mark, d.ns);
  return link !== undefined && !isDefaultQdiscKind(link.qdisc ?? 'noop');
}

/** True when some link of the topology on the host holds a qdisc other than the default. */
function anyQdiscHeld(ctx: PlanContext): boolean {
  for (const links of ctx.view.ownedLinks.values()) for (const l of links) if (!isDefaultQdiscKind(l.qdisc ?? 'noop')) return true;
  return false;
}

function planHost(ctx: PlanContext, out: HostPlan): void {
  // The common case, nothing shaped and nothing held, allocates nothing per endpoint.
  const held = anyQdiscHeld(ctx);
  for (const spec of ctx.desired.values()) {
    if (spec.kind !== 'endpoint' || (!held && !spec.shaping)) continue;
    for (const direction of ['egress', 'ingress'] as const) {
      const d = device(spec, direction);
      if (!d || !needsPlan(ctx, d)) continue;
      const r = out.resource(qdiscAddress(spec.address, direction), 'qdisc');
      r.want = spec;
      planDevice(ctx, r, d, false);
    }
  }
}

const directionOf = (address: string): Direction => (address.endsWith('/ingress') ? 'ingress' : 'egress');

export const qdiscs: ResourceApplier = {
  kind: 'qdisc',
  planHost,
  replan(ctx, out, address) {
    // The only upstream a qdisc has: its link is deleted and made again by another step.
    const r = out.reset(address);
    const d = device(r.want as EndpointSpec, directionOf(address));
    if (d) planDevice(ctx, r, d, true);
  },
};

/**
 * A link that is deleted (and made again, its endpoint or namespace replaced) takes its qdisc:
 * the qdisc is set again on the new link, and the deletion's undo puts the old one back.
 */
export const linksTakeTheirQdiscs: Pass = (p) => {
  if (!p.out.deletes) return;
  const gone = p.out.deletions();
  for (const r of p.out.resources()) {
    if (r.kind !== 'qdisc' || !r.want) continue;
    const d = device(r.want as EndpointSpec, directionOf(r.address));
    const taker = d && gone.link(d.ns, d.ifname);
    if (!d || !taker) continue;
    const held = p.ctx.view.owned(d.mark, d.ns)?.qdiscs;
    const restore = held?.root.type === 'shaping' ? tcRestoreArgv(held) : undefined;
    if (restore) taker.undo.push(cmd(p.ctx.host, d.ns, restore.slice(1), { tool: 'tc' }));
    p.appliers.get('qdisc')?.replan?.(p.ctx, p.out, r.address, { kind: 'dropped', cause: { by: 'link', dev: d.ifname, removed: false } });
  }
};

/** The qdiscs an endpoint's shaping asks for, in one line ("tbf rate 20mbit ..., ingress netem delay 5ms ..."). */
const shapingSummary = (want: EndpointSpec | undefined): string =>
  [want?.shaping?.egress && describeQdisc(want.shaping.egress), want?.shaping?.ingress && `ingress ${describeQdisc(want.shaping.ingress)}`].filter(Boolean).join(', ') || 'none';

/**
 * Qdisc changes and errors read as their endpoint's (`~ endpoint.r1.eth1` with `delay 10ms ->
 * 50ms`), and the endpoint's before/after carry its shaping.
 */
export const shapingReadsAsEndpoint: Pass = ({ out }) => {
  for (const r of out.resources()) {
    if (r.kind !== 'qdisc') continue;
    const ep = out.get(qdiscEndpoint(r.address));
    const c = r.change;
    delete r.change;
    if (r.errors.length) r.errors = r.errors.map((e) => ({ ...e, address: qdiscEndpoint(r.address) }));
    if (!ep) continue;
    if (c && !ep.change) ep.setChange('update', `shaping: ${shapingSummary(ep.want as EndpointSpec | undefined)}`, c.reasons);
    else if (c && ep.change!.action !== 'delete') ep.change!.reasons.push(...c.reasons);
    if (ep.change && ep.have && r.have) ep.have = { ...ep.have, shaping: { ...(ep.have as { shaping?: object }).shaping, ...r.have } };
  }
};

/** Per host, each qdisc kind the desired endpoints ask for, with the first endpoint that asks (for the probe). */
export function qdiscNeeds(desired: ReadonlyMap<string, ReadonlyMap<string, Spec>>): Map<string, Map<QdiscKind, string>> {
  const needs = new Map<string, Map<QdiscKind, string>>();
  for (const [host, specs] of desired) {
    for (const s of specs.values()) {
      if (s.kind !== 'endpoint' || !s.shaping) continue;
      const kinds = needs.get(host) ?? new Map<QdiscKind, string>();
      for (const q of [s.shaping.egress, s.shaping.ingress]) if (q && !kinds.has(q.kind)) kinds.set(q.kind, s.address);
      needs.set(host, kinds);
    }
  }
  return needs;
}
