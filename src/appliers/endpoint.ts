// What every kind of endpoint shares: the interface in the sandbox (its configuration, how it
// is read back and changed in place), and the way an endpoint is planned: created, changed in
// place, replaced (with a reason), or deleted. Each link kind (veth.ts, macvlan.ts) says how its
// link is made, read and deleted, and what of it outside the sandbox changes in place.
import type { EndpointSpec, Spec } from '../planner/desired.js';
import type { Dep, ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { addrAdd, cmd, diffAddresses, ipv6On, linkRef, managedAddresses, mark, sandboxOf } from './common.js';
import type { LinkApplier } from './driver.js';
import type { PlanContext, Upstream } from './types.js';

/** An endpoint's spec read back from the kernel: all but what only the file says (driver, network). */
export type ObservedSpec<S extends EndpointSpec> = Omit<S, 'driver' | 'network'>;

/** An endpoint as the kernel holds it: its spec read back, and its links. */
export interface ObservedEndpoint<S extends EndpointSpec> {
  spec: ObservedSpec<S>;
  inner: KLink;
  outer?: KLink;
}

/** What was found of an endpoint: whole, or broken (`broken` says why; `found` when the inner end is there). */
export interface Found<S extends EndpointSpec> {
  found?: ObservedEndpoint<S>;
  broken?: string;
}



/** The endpoint's interface in its sandbox: the owned link of its mark inside a namespace. */
export const innerLink = (ctx: PlanContext, address: string): KLink | undefined => ctx.view.ownedLinks.get(address)?.find((l) => l.ns !== null);

/** The fields every endpoint spec has, read back from its interface. */
export function observedBase(ctx: PlanContext, address: string, inner: KLink) {
  const ipv6 = inner.addrGenMode !== 'none';
  return {
    kind: 'endpoint' as const,
    host: ctx.host,
    address,
    netns: inner.ns!,
    ifname: inner.ifname,
    mtu: inner.mtu,
    mac: inner.mac,
    addresses: managedAddresses(inner, { ipv6 }),
    ipv6,
    ...(inner.up ? {} : { up: false }),
  };
}

/**
 * Configuration of the interface in the sandbox: IPv6 off (before the link is up, or the
 * link-local address is already made), mark, mac, mtu, up, addresses.
 */
export function innerLines(ctx: PlanContext, s: ObservedSpec<EndpointSpec>, markAddress: string = s.address): string[][] {
  return [
    ...(s.ipv6 ? [] : [['link', 'set', 'dev', s.ifname, 'addrgenmode', 'none']]),
    ['link', 'set', 'dev', s.ifname, 'alias', mark(ctx, markAddress), ...(s.mac ? ['address', s.mac] : []), ...(s.mtu !== undefined ? ['mtu', String(s.mtu)] : []), ...(s.up === false ? [] : ['up'])],
    ...s.addresses.map((a) => addrAdd(a, s.ifname)),
  ];
}

/** Changes made in place to one end of an endpoint, with their undo and the reasons. */
export class EndChanges {
  readonly do: string[][] = [];
  readonly undo: Command[] = [];
  constructor(
    readonly host: string,
    readonly ns: string | null,
    readonly reasons: string[],
  ) {}

  add(reason: string | undefined, line: string[], undo: string[]): void {
    if (reason) this.reasons.push(reason);
    this.do.push(line);
    this.undo.push(cmd(this.host, this.ns, undo));
  }
}

/** The interface in the sandbox: mtu, mac, IPv6 off, addresses, up. Returns the addresses it deletes. */
function innerChanges<S extends EndpointSpec>(c: EndChanges, have: ObservedEndpoint<S>, want: S): ObjectRef[] {
  const h = have.spec;
  const dev = want.ifname;
  if (want.mtu !== undefined && h.mtu !== want.mtu) c.add(`mtu ${h.mtu} -> ${want.mtu}`, ['link', 'set', 'dev', dev, 'mtu', String(want.mtu)], ['link', 'set', 'dev', dev, 'mtu', String(h.mtu)]);
  if (want.mac && h.mac !== want.mac) c.add(`mac ${h.mac} -> ${want.mac}`, ['link', 'set', 'dev', dev, 'address', want.mac], ['link', 'set', 'dev', dev, 'address', h.mac!]);
  if (!want.ipv6 && ipv6On(have.inner))
    c.add(`IPv6 is on (addrgenmode ${have.inner.addrGenMode}), the network has none`, ['link', 'set', 'dev', dev, 'addrgenmode', 'none'], ['link', 'set', 'dev', dev, 'addrgenmode', have.inner.addrGenMode ?? 'eui64']);
  // Old addresses go before new ones come: when every IPv4 address goes, the kernel drops the
  // link's IPv4 routes on the way (the passes add them again).
  // The observed spec's addresses were picked with the link's own IPv6 setting: the same list when it is the wanted one.
  const haveAddresses = h.ipv6 === want.ipv6 ? h.addresses : managedAddresses(have.inner, want);
  const addrs = diffAddresses(c.host, c.ns, dev, want.addresses, haveAddresses);
  c.reasons.push(...addrs.reasons);
  c.do.push(...addrs.lines);
  c.undo.push(...addrs.undo);
  // up: false is a cable pulled on purpose; otherwise a link found down is brought up.
  if (!have.inner.up && want.up !== false) c.add('link is down', ['link', 'set', 'dev', dev, 'up'], ['link', 'set', 'dev', dev, 'down']);
  if (have.inner.up && want.up === false) c.add('link up -> down', ['link', 'set', 'dev', dev, 'down'], ['link', 'set', 'dev', dev, 'up']);
  return addrs.removed;
}

/** A name the interface wants in the sandbox that something else holds (an error unless the plan frees it). */
function checkInnerName(ctx: PlanContext, r: ResourcePlan, s: EndpointSpec): void {
  const holder = ctx.view.holder(s.netns, s.ifname);
  if (holder) r.clash({ want: linkRef(ctx.host, s.netns, s.ifname), holder: linkRef(ctx.host, s.netns, s.ifname), message: `cannot create "${s.ifname}" in namespace "${s.netns}": the name is taken by ${holder}` });
}

/** What one kind of endpoint says about its links; endpointApplier() plans with it. */
export interface EndpointKind<S extends EndpointSpec> {
  readonly linkKind: string;
  is(s: Spec | undefined): s is S;
  recognizes(ctx: PlanContext, address: string): boolean;
  observe(ctx: PlanContext, address: string): Found<S>;
  summary(s: S): string;
  /** Why `have` cannot become `want` in place, beyond its namespace and name. */
  replaceReason(have: ObservedEndpoint<S>, want: S, ctx: PlanContext): string | undefined;
  /** The mark address of the interface in the sandbox, when it is not the endpoint's address (a p2p end names its peer). */
  markOf?(s: ObservedSpec<S>): string;
  /** Deletes the endpoint's links. */
  remove(ctx: PlanContext, r: ResourcePlan, what: Found<S>, action: 'delete' | 'replace'): void;
  /** What the create step needs that is missing (an error), and names others hold (clashes). False: do not create. */
  check(ctx: PlanContext, r: ResourcePlan, want: S): boolean;
  /**
   * The create step, made in the host's own stack: its lines, the links it makes, its undo, and
   * what else it waits for. No lines: another resource's step makes the link (a p2p pair's
   * second end), and the configuration waits for `configAfter` instead.
   */
  create(ctx: PlanContext, want: S): { description: string; do: string[][]; creates: ObjectRef[]; undo: Command[]; after?: Dep[]; configAfter?: Dep[] };
  /** In-place changes outside the sandbox (a veth's host end); `r` takes what a pass needs back. */
  outerChanges?(c: EndChanges, r: ResourcePlan, have: ObservedEndpoint<S>, want: S, upstream: Upstream | undefined): void;
}

/** The kind's summary, saying when the link is down on purpose. */
const summaryOf = <S extends EndpointSpec>(k: EndpointKind<S>, s: S) => `${k.summary(s)}${s.up === false ? ' (link down)' : ''}`;

function create<S extends EndpointSpec>(k: EndpointKind<S>, ctx: PlanContext, r: ResourcePlan, s: S, action: 'create' | 'replace', reasons: string[]): void {
  const { address } = r;
  if (!k.check(ctx, r, s)) return;
  checkInnerName(ctx, r, s);
  const made = k.create(ctx, s);
  const after: Dep[] = [{ address: `sandbox.${sandboxOf(address)}`, phase: 'create' }, { address: s.network, phase: 'create' }];
  if (action === 'replace') after.push({ address, phase: 'delete' });
  if (made.do.length)
    r.step({
      phase: 'create',
      ns: null,
      action,
      description: made.description,
      do: made.do,
      creates: made.creates,
      undo: made.undo,
      after: [...after, ...(made.after ?? [])],
    });
  const configAfter: Dep[] = made.do.length ? [{ address, phase: 'create' }] : (made.configAfter ?? []);
  r.step({ phase: 'config', ns: s.netns, action, description: `configure ${s.netns}/${s.ifname}`, do: innerLines(ctx, s, k.markOf?.(s)), undo: [], after: configAfter });
  r.setChange(action, summaryOf(k, s), reasons);
}

function update<S extends EndpointSpec>(k: EndpointKind<S>, ctx: PlanContext, r: ResourcePlan, want: S, have: ObservedEndpoint<S>, upstream: Upstream | undefined): void {
  const reasons: string[] = [];
  const outer = new EndChanges(ctx.host, null, reasons);
  k.outerChanges?.(outer, r, have, want, upstream);
  const inner = new EndChanges(ctx.host, want.netns, reasons);
  const removed = innerChanges(inner, have, want);
  if (!reasons.length && !outer.do.length && !inner.do.length) return;
  if (outer.do.length)
    r.step({
      phase: 'update-host',
      ns: null,
      action: 'update',
      description: `update host end of ${r.address}`,
      do: outer.do,
      undo: outer.undo.reverse(),
      // The bridge it moves to may be made by this plan.
      after: [{ address: want.network, phase: 'create' }],
    });
  if (inner.do.length)
    r.step({ phase: 'update', ns: want.netns, action: 'update', description: `update ${want.netns}/${want.ifname}`, do: inner.do, ...(removed.length ? { deletes: removed } : {}), undo: inner.undo.reverse() });
  r.setChange('update', summaryOf(k, want), reasons);
}

function plan<S extends EndpointSpec>(k: EndpointKind<S>, ctx: PlanContext, r: ResourcePlan, want: S | undefined, upstream: Upstream | undefined): void {
  const seen = k.observe(ctx, r.address);
  const have = seen.found;
  if (have) {
    r.have = have.spec;
    r.inNamespace = have.spec.netns;
  }
  if (!want) {
    if (!have && !seen.broken) return;
    k.remove(ctx, r, seen, 'delete');
    return;
  }
  if (!have && !seen.broken) return create(k, ctx, r, want, 'create', []);
  const why =
    seen.broken ??
    (have!.spec.netns !== want.netns
      ? `namespace ${have!.spec.netns} -> ${want.netns}`
      : have!.spec.ifname !== want.ifname
        ? `renamed by hand to ${have!.spec.ifname}; the topology says ${want.ifname}`
        : (k.replaceReason(have!, want, ctx) ?? (upstream?.kind === 'namespace-replaced' ? `namespace ${have!.spec.netns} is replaced` : undefined)));
  if (why) {
    k.remove(ctx, r, seen, 'replace');
    return create(k, ctx, r, want, 'replace', [`${why} (forces replacement)`]);
  }
  update(k, ctx, r, want, have!, upstream);
}

/** The applier of one kind of endpoint. */
export function endpointApplier<S extends EndpointSpec>(k: EndpointKind<S>): LinkApplier {
  const wanted = (s: Spec | undefined): S | undefined => (s === undefined ? undefined : k.is(s) ? s : undefined);
  return {
    linkKind: k.linkKind,
    recognizes: (ctx, address) => k.recognizes(ctx, address),
    plan: (ctx, r, want, upstream) => plan(k, ctx, r, wanted(want), upstream),
    remove(ctx, r) {
      const seen = k.observe(ctx, r.address);
      if (seen.found) r.have = seen.found.spec;
      k.remove(ctx, r, seen, 'replace');
    },
    replace: (ctx, r, want, reason) => create(k, ctx, r, wanted(want)!, 'replace', [`${reason} (forces replacement)`]),
  };
}
