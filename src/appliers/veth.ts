// Endpoints that are veth pairs on a bridge (the bridge and overlay drivers): the host end on
// the network's bridge, the other end in the sandbox under the endpoint's name.
import type { EndpointSpec, Spec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { cmd, ipv6On, linkRef, managedAddresses, mark, sandboxOf } from './common.js';
import { endpointApplier, innerLines, innerLink, observedBase, type EndChanges, type EndpointKind, type Found, type ObservedEndpoint, type ObservedSpec } from './endpoint.js';
import type { LinkEnd } from './driver.js';
import type { PlanContext, Upstream } from './types.js';

/** Suffix of the mark on the host end of a veth pair. */
export const PEER_SUFFIX = '/peer';

export interface VethSpec extends EndpointSpec {
  type: 'veth';
  hostIfname: string;
  /** MAC of the host end (observed endpoints only: the undo of a deletion puts it back). */
  hostMac?: string;
  /**
   * MTU of the host end: the network's, whatever the endpoint's own (the inner end's) is. A
   * bridge takes the smallest MTU of its ports, so a smaller host end would shrink it.
   */
  hostMtu?: number;
  /** The bridge the host end is enslaved to. */
  master: string;
  /**
   * Hairpin mode on the host end's bridge port: set where the sandbox publishes ports, so that
   * it reaches its own published port through the host (the DNATed packet goes back out of the
   * port it came in by, which a bridge does only with hairpin on; Docker does the same).
   */
  hairpin?: boolean;
}

const isVeth = (s: Spec | undefined): s is VethSpec => s?.kind === 'endpoint' && s.type === 'veth';

/** Sets hairpin mode on a bridge port (its settings as a port are set with `type bridge_slave`). */
const hairpinLine = (ifname: string, on: boolean): string[] => ['link', 'set', 'dev', ifname, 'type', 'bridge_slave', 'hairpin', on ? 'on' : 'off'];

/** Host-side lines that make the pair and configure the host end. */
function hostLines(ctx: PlanContext, s: ObservedSpec<VethSpec>): string[][] {
  const hostMtu = s.hostMtu ?? s.mtu;
  return [
    ['link', 'add', 'name', s.hostIfname, 'type', 'veth', 'peer', 'name', s.ifname, 'netns', s.netns],
    ...(s.ipv6 ? [] : [['link', 'set', 'dev', s.hostIfname, 'addrgenmode', 'none']]),
    ['link', 'set', 'dev', s.hostIfname, 'alias', mark(ctx, s.address + PEER_SUFFIX), ...(s.hostMac ? ['address', s.hostMac] : []), 'master', s.master, ...(hostMtu !== undefined ? ['mtu', String(hostMtu)] : []), 'up'],
    ...(s.hairpin ? [hairpinLine(s.hostIfname, true)] : []),
  ];
}

/** The pair's two links, with their marks: the host end first. */
const pairLinks = (ctx: PlanContext, s: ObservedSpec<VethSpec>): ObjectRef[] => [
  linkRef(ctx.host, null, s.hostIfname, { linkKind: 'veth', mark: s.address + PEER_SUFFIX }),
  linkRef(ctx.host, s.netns, s.ifname, { linkKind: 'veth', mark: s.address }),
];

/** Every command that builds the endpoint (the undo of its deletion). */
function buildCommands(ctx: PlanContext, s: ObservedSpec<VethSpec>): Command[] {
  return [...hostLines(ctx, s).map((l, i) => cmd(ctx.host, null, l, i === 0 ? { creates: pairLinks(ctx, s) } : undefined)), ...innerLines(ctx, s).map((l) => cmd(ctx.host, s.netns, l))];
}

function observe(ctx: PlanContext, address: string): Found<VethSpec> {
  const inner = innerLink(ctx, address);
  const outer = ctx.view.owned(address + PEER_SUFFIX, null);
  if (!inner) return outer ? { broken: `host end ${outer.ifname} has lost its peer` } : {};
  const base = { ...observedBase(ctx, address, inner), type: 'veth' as const };
  if (!outer) return { broken: `${inner.ifname} in ${inner.ns} has no host end`, found: { inner, spec: { ...base, hostIfname: '', master: '' } } };
  return { found: { inner, outer, spec: { ...base, hostIfname: outer.ifname, hostMac: outer.mac, hostMtu: outer.mtu, master: outer.master ?? '', ...(outer.hairpin ? { hairpin: true } : {}) } } };
}

const summary = (s: ObservedSpec<VethSpec>) => `veth ${s.hostIfname} on ${s.master} <-> ${s.netns}/${s.ifname}${s.addresses.length ? ` ${s.addresses.join(' ')}` : ''}`;

/** Deletes the pair by its host end where there is one (the other end goes with it). */
function remove(ctx: PlanContext, r: ResourcePlan, { found, broken }: Found<VethSpec>, action: 'delete' | 'replace'): void {
  const stale = ctx.view.owned(r.address + PEER_SUFFIX, null);
  const outer = found?.outer ?? stale;
  const target: KLink = outer ?? found!.inner;
  r.step({
    phase: 'delete',
    ns: target.ns,
    action,
    deletion: true,
    description: `delete veth ${target.ifname}`,
    do: [['link', 'del', 'dev', target.ifname]],
    deletes: outer && found ? [linkRef(ctx.host, null, outer.ifname, { linkKind: outer.kind }), linkRef(ctx.host, found.inner.ns, found.inner.ifname)] : [linkRef(ctx.host, target.ns, target.ifname, { linkKind: target.kind })],
    undo: found && !broken ? buildCommands(ctx, found.spec) : [],
    after: [{ rel: 'route-deletions-of', sandbox: sandboxOf(r.address) }],
  });
  if (action === 'delete') {
    const what = found ? summary(found.spec) : stale ? `veth ${stale.ifname}${stale.master ? ` on ${stale.master}` : ''} (${broken})` : r.address;
    r.setChange('delete', what, ['not in the topology any more']);
  }
}

function check(ctx: PlanContext, r: ResourcePlan, s: VethSpec): boolean {
  const holder = ctx.view.holder(null, s.hostIfname);
  if (holder) r.clash({ want: linkRef(ctx.host, null, s.hostIfname), holder: linkRef(ctx.host, null, s.hostIfname), message: `cannot create veth "${s.hostIfname}": the name is taken by ${holder}` });
  if (!ctx.desired.has(s.network) && !ctx.view.link(null, s.master)) {
    r.error(`bridge "${s.master}" does not exist`);
    return false;
  }
  return true;
}

/**
 * The host end: on its bridge, its mtu, IPv6 off, up. When this plan deletes the bridge it is
 * on (`detached`), that deletion takes the port off, and its undo puts the port back
 * (`reattach`): the bridge made again gets it back here.
 */
function outerChanges(c: EndChanges, r: ResourcePlan, have: ObservedEndpoint<VethSpec>, want: VethSpec, upstream: Upstream | undefined): void {
  const o = have.outer;
  if (!o) return;
  const detached = upstream?.kind === 'detached' && upstream.master === o.master;
  if (o.master !== want.master || detached) {
    const reason = detached && o.master === want.master ? `host end goes back on ${want.master} when the bridge is made again` : o.master ? `host end is on ${o.master}, not ${want.master}` : `host end is not on bridge ${want.master}`;
    c.add(reason, ['link', 'set', 'dev', o.ifname, 'master', want.master], o.master && !detached ? ['link', 'set', 'dev', o.ifname, 'master', o.master] : ['link', 'set', 'dev', o.ifname, 'nomaster']);
    if (detached) r.reattach = [cmd(c.host, null, ['link', 'set', 'dev', o.ifname, 'master', o.master!])];
  }
  const hostMtu = want.hostMtu ?? want.mtu;
  if (hostMtu !== undefined && o.mtu !== hostMtu) {
    // One reason when both ends go to the same mtu ("mtu A -> B", for the inner end).
    const same = have.inner.mtu !== want.mtu && hostMtu === want.mtu;
    c.add(same ? undefined : `host end mtu ${o.mtu} -> ${hostMtu}`, ['link', 'set', 'dev', o.ifname, 'mtu', String(hostMtu)], ['link', 'set', 'dev', o.ifname, 'mtu', String(o.mtu)]);
  }
  if (!want.ipv6 && ipv6On(o)) {
    c.reasons.push(`IPv6 is on at host end ${o.ifname}, the network has none`);
    c.do.push(['link', 'set', 'dev', o.ifname, 'addrgenmode', 'none'], ...managedAddresses(o, { ipv6: false }).map((a) => ['addr', 'del', a, 'dev', o.ifname]));
    c.undo.push(cmd(c.host, null, ['link', 'set', 'dev', o.ifname, 'addrgenmode', o.addrGenMode ?? 'eui64']));
  }
  // A port moved to another bridge starts with hairpin off there.
  const hadHairpin = o.master === want.master && !detached && o.hairpin === true;
  const wantHairpin = want.hairpin === true;
  if (hadHairpin !== wantHairpin) c.add(`host end hairpin ${hadHairpin ? 'on' : 'off'} -> ${wantHairpin ? 'on' : 'off'}`, hairpinLine(o.ifname, wantHairpin), hairpinLine(o.ifname, hadHairpin));
  if (!o.up) c.add(`host end ${o.ifname} is down`, ['link', 'set', 'dev', o.ifname, 'up'], ['link', 'set', 'dev', o.ifname, 'down']);
}

const kind: EndpointKind<VethSpec> = {
  linkKind: 'veth',
  is: isVeth,
  recognizes: (ctx, address) => ctx.view.owned(address + PEER_SUFFIX, null) !== undefined || innerLink(ctx, address)?.kind === 'veth',
  observe,
  summary,
  replaceReason: (have, want) => (have.spec.hostIfname !== want.hostIfname ? `host end ${have.spec.hostIfname} -> ${want.hostIfname}` : undefined),
  remove,
  check,
  create: (ctx, s) => {
    const links = pairLinks(ctx, s);
    return { description: `create veth ${s.hostIfname} <-> ${s.netns}/${s.ifname}`, do: hostLines(ctx, s), creates: links, undo: [cmd(ctx.host, null, ['link', 'del', 'dev', s.hostIfname], { deletes: links })] };
  },
  outerChanges,
};

/** The host end of a veth endpoint: where what the sandbox receives is shaped (`shaping.ingress`). */
export const vethOtherEnd = (s: EndpointSpec): LinkEnd => ({ ns: null, ifname: (s as VethSpec).hostIfname, mark: s.address + PEER_SUFFIX });

/** The applier of veth endpoints, shared by the drivers whose networks are bridges. */
export const vethEndpoint = endpointApplier(kind);
