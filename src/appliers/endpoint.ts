// Endpoints: the interface that joins a sandbox to a network. A veth pair for bridge and
// overlay networks (host end on the bridge, inner end in the sandbox), or a macvlan
// sub-interface of the network's parent created directly in the sandbox.
import type { EndpointSpec, MacvlanSpec, VethSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import { parseMark } from '../state/ownership.js';
import type { Command } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { PEER_SUFFIX, addrAdd, cmd, diffAddresses, linkRef, managedAddresses, mark, markResource } from './common.js';
import type { ObjectRef } from '../planner/types.js';
import type { PlanContext, Upstream } from './types.js';

/**
 * Configuration of the inner end, in the sandbox's namespace: IPv6 off (before the link is up,
 * or the link-local address is already made), mark, mac, mtu, up, addresses.
 */
function innerLines(ctx: PlanContext, s: EndpointSpec): string[][] {
  return [
    ...(s.ipv6 ? [] : [['link', 'set', s.ifname, 'addrgenmode', 'none']]),
    [
      'link',
      'set',
      s.ifname,
      'alias',
      mark(ctx, s.address),
      ...(s.mac ? ['address', s.mac] : []),
      ...(s.mtu !== undefined ? ['mtu', String(s.mtu)] : []),
      'up',
    ],
    ...s.addresses.map((a) => addrAdd(a, s.ifname)),
  ];
}

/** Host-side lines that create the link (and, for veth, configure the host end). */
function outerLines(ctx: PlanContext, s: EndpointSpec): string[][] {
  if (s.type === 'macvlan') {
    return [['link', 'add', 'link', s.parent, 'name', s.ifname, 'netns', s.netns, 'type', 'macvlan', 'mode', s.mode]];
  }
  return [
    ['link', 'add', s.hostIfname, 'type', 'veth', 'peer', 'name', s.ifname, 'netns', s.netns],
    ...(s.ipv6 ? [] : [['link', 'set', s.hostIfname, 'addrgenmode', 'none']]),
    [
      'link',
      'set',
      s.hostIfname,
      'alias',
      mark(ctx, s.address + PEER_SUFFIX),
      ...(s.hostMac ? ['address', s.hostMac] : []),
      'master',
      s.master,
      ...((s.hostMtu ?? s.mtu) !== undefined ? ['mtu', String(s.hostMtu ?? s.mtu)] : []),
      'up',
    ],
  ];
}

/** The links the endpoint is made of, with their marks: the host end of a veth first. */
function endpointLinks(ctx: PlanContext, s: EndpointSpec, withMarks = true): ObjectRef[] {
  const m = (a: string) => (withMarks ? { mark: a } : {});
  const inner = linkRef(ctx.host, s.netns, s.ifname, { linkKind: s.type, ...m(s.address) });
  return s.type === 'veth' ? [linkRef(ctx.host, null, s.hostIfname, { linkKind: 'veth', ...m(s.address + PEER_SUFFIX) }), inner] : [inner];
}

/** Every command that builds the endpoint (the undo of its deletion). */
export function endpointCreateCommands(ctx: PlanContext, s: EndpointSpec): Command[] {
  const links = endpointLinks(ctx, s);
  return [
    ...outerLines(ctx, s).map((l, i) => cmd(ctx.host, null, l, i === 0 ? { creates: links } : {})),
    ...innerLines(ctx, s).map((l) => cmd(ctx.host, s.netns, l)),
  ];
}

interface Observed {
  spec: EndpointSpec;
  inner: KLink;
  outer?: KLink;
}

/** The endpoint as the kernel holds it, read back into a spec. Undefined when not found. */
export function observeEndpoint(ctx: PlanContext, address: string): { found?: Observed; broken?: string } {
  const inner = (ctx.view.ownedLinks.get(address) ?? []).find((l) => l.ns !== null);
  const outer = ctx.view.owned(address + PEER_SUFFIX, null);
  if (!inner) {
    if (outer) return { broken: `host end ${outer.ifname} has lost its peer` };
    return {};
  }
  const ipv6 = inner.addrGenMode !== 'none';
  const base = {
    kind: 'endpoint' as const,
    host: ctx.host,
    address,
    netns: inner.ns!,
    ifname: inner.ifname,
    mtu: inner.mtu,
    mac: inner.mac,
    addresses: managedAddresses(inner, ipv6),
    ipv6,
  };
  if (inner.kind === 'macvlan') {
    const parent = inner.link ?? ctx.view.state.root.links.find((l) => l.ifindex === inner.linkIndex)?.ifname ?? '?';
    return { found: { inner, spec: { ...base, type: 'macvlan', parent, mode: (inner.macvlanMode ?? 'bridge') as MacvlanSpec['mode'] } } };
  }
  if (!outer) return { broken: `${inner.ifname} in ${inner.ns} has no host end`, found: { inner, spec: { ...base, type: 'veth', hostIfname: '', master: '' } } };
  return { found: { inner, outer, spec: { ...base, type: 'veth', hostIfname: outer.ifname, hostMac: outer.mac, hostMtu: outer.mtu, master: outer.master ?? '' } } };
}

function summary(s: EndpointSpec): string {
  const where = `${s.netns}/${s.ifname}`;
  const addrs = s.addresses.length ? ` ${s.addresses.join(' ')}` : '';
  return s.type === 'veth' ? `veth ${s.hostIfname} on ${s.master} <-> ${where}${addrs}` : `macvlan ${s.mode} on ${s.parent} -> ${where}${addrs}`;
}

/** Why the existing endpoint cannot be changed in place into `want`, if it cannot. */
function replaceReason(have: Observed, want: EndpointSpec): string | undefined {
  const h = have.spec;
  if (h.type !== want.type) return `${h.type} -> ${want.type}`;
  if (h.netns !== want.netns) return `namespace ${h.netns} -> ${want.netns}`;
  if (h.ifname !== want.ifname) return `renamed by hand to ${h.ifname}; the topology says ${want.ifname}`;
  if (h.type === 'veth' && want.type === 'veth' && h.hostIfname !== want.hostIfname) return `host end ${h.hostIfname} -> ${want.hostIfname}`;
  if (h.type === 'macvlan' && want.type === 'macvlan') {
    if (h.parent !== want.parent) return `parent ${h.parent} -> ${want.parent}`;
    if (h.mode !== want.mode) return `mode ${h.mode} -> ${want.mode}`;
  }
  return undefined;
}

const sandboxOf = (address: string) => address.split('.')[1]!;

/** True when the link that holds a name is this resource's own (about to be deleted or kept). */
function ownLink(ctx: PlanContext, ns: string | null, ifname: string, address: string): boolean {
  const m = parseMark(ctx.view.link(ns, ifname)?.alias);
  return m?.topology === ctx.topology && markResource(m.address) === address;
}

/** Deletes what exists: by its host end where there is one (the inner end goes with it). */
function remove(ctx: PlanContext, r: ResourcePlan, found: Observed | undefined, broken: string | undefined, action: 'delete' | 'replace'): void {
  const outer = found?.outer ?? ctx.view.owned(r.address + PEER_SUFFIX, null);
  const [ns, dev] = outer ? [null, outer.ifname] : [found!.inner.ns, found!.inner.ifname];
  const primary = linkRef(ctx.host, ns, dev, { ...((outer ?? found?.inner)?.kind ? { linkKind: (outer ?? found!.inner).kind! } : {}) });
  r.step({
    phase: 'delete',
    ns,
    action,
    deletion: true,
    description: `delete ${found?.spec.type ?? 'veth'} ${dev}`,
    do: [['link', 'del', dev]],
    deletes: outer && found ? [primary, linkRef(ctx.host, found.inner.ns, found.inner.ifname)] : [primary],
    undo: found && !broken ? endpointCreateCommands(ctx, found.spec) : [],
    after: [{ rel: 'route-deletions-of', sandbox: sandboxOf(r.address) }],
  });
}

/** Names the endpoint wants that something else holds, and what it needs that is missing. */
function checkCreate(ctx: PlanContext, r: ResourcePlan, s: EndpointSpec): boolean {
  const { host, address } = r;
  if (s.type === 'veth') {
    const holder = ctx.view.holder(null, s.hostIfname);
    if (holder && !ownLink(ctx, null, s.hostIfname, address))
      r.clash({ want: linkRef(host, null, s.hostIfname), holder: linkRef(host, null, s.hostIfname), message: `cannot create veth "${s.hostIfname}": the name is taken by ${holder}` });
    if (!ctx.desired.has(`network.${networkOf(ctx, s)}`) && !ctx.view.link(null, s.master)) {
      r.error(`bridge "${s.master}" does not exist`);
      return false;
    }
  } else if (!ctx.view.link(null, s.parent)) {
    r.error(`parent interface "${s.parent}" of the macvlan network does not exist on host "${host}"`);
    return false;
  }
  const holder = ctx.view.holder(s.netns, s.ifname);
  if (holder && !ownLink(ctx, s.netns, s.ifname, address))
    r.clash({ want: linkRef(host, s.netns, s.ifname), holder: linkRef(host, s.netns, s.ifname), message: `cannot create "${s.ifname}" in namespace "${s.netns}": the name is taken by ${holder}` });
  return true;
}

function create(ctx: PlanContext, r: ResourcePlan, s: EndpointSpec, action: 'create' | 'replace', reasons: string[]): void {
  const { host, address } = r;
  if (!checkCreate(ctx, r, s)) return;
  const links = endpointLinks(ctx, s);
  r.step({
    phase: 'create',
    ns: null,
    action,
    description: s.type === 'veth' ? `create veth ${s.hostIfname} <-> ${s.netns}/${s.ifname}` : `create macvlan ${s.netns}/${s.ifname} on ${s.parent}`,
    do: outerLines(ctx, s),
    creates: links,
    undo: [s.type === 'veth' ? cmd(host, null, ['link', 'del', s.hostIfname], { deletes: links }) : cmd(host, s.netns, ['link', 'del', s.ifname], { deletes: links })],
    after: [
      { address: `sandbox.${sandboxOf(address)}`, phase: 'create' },
      { address: `network.${networkOf(ctx, s)}`, phase: 'create' },
      ...(action === 'replace' ? [{ address, phase: 'delete' }] : []),
    ],
  });
  r.step({ phase: 'config', ns: s.netns, action, description: `configure ${s.netns}/${s.ifname}`, do: innerLines(ctx, s), undo: [], after: [{ address, phase: 'create' }] });
  r.setChange(action, summary(s), reasons);
}

/** Changes made in place to one end, with their undo. */
class EndChanges {
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

/**
 * The host end of a veth: on its bridge, its mtu, IPv6 off, up. When this plan deletes the
 * bridge it is on (`detached`), that deletion takes the port off, and its undo puts the port
 * back (`reattach`): the bridge made again gets it back here.
 */
function hostEndChanges(c: EndChanges, r: ResourcePlan, o: KLink, want: VethSpec, innerMtu: number | undefined, upstream: Upstream | undefined): void {
  const detached = upstream?.kind === 'detached' && upstream.master === o.master;
  if (o.master !== want.master || detached) {
    const reason = detached && o.master === want.master ? `host end goes back on ${want.master} when the bridge is made again` : o.master ? `host end is on ${o.master}, not ${want.master}` : `host end is not on bridge ${want.master}`;
    c.add(reason, ['link', 'set', o.ifname, 'master', want.master], o.master && !detached ? ['link', 'set', o.ifname, 'master', o.master] : ['link', 'set', o.ifname, 'nomaster']);
    if (detached) r.reattach = [cmd(c.host, null, ['link', 'set', o.ifname, 'master', o.master!])];
  }
  const hostMtu = want.hostMtu ?? want.mtu;
  if (hostMtu !== undefined && o.mtu !== hostMtu) {
    // One reason when both ends go to the same mtu ("mtu A -> B", for the inner end).
    const same = innerMtu !== want.mtu && hostMtu === want.mtu;
    c.add(same ? undefined : `host end mtu ${o.mtu} -> ${hostMtu}`, ['link', 'set', o.ifname, 'mtu', String(hostMtu)], ['link', 'set', o.ifname, 'mtu', String(o.mtu)]);
  }
  if (!want.ipv6 && o.addrGenMode !== 'none') {
    c.reasons.push(`IPv6 is on at host end ${o.ifname}, the network has none`);
    c.do.push(['link', 'set', o.ifname, 'addrgenmode', 'none'], ...managedAddresses(o, false).map((a) => ['addr', 'del', a, 'dev', o.ifname]));
    c.undo.push(cmd(c.host, null, ['link', 'set', o.ifname, 'addrgenmode', o.addrGenMode ?? 'eui64']));
  }
  if (!o.up) c.add(`host end ${o.ifname} is down`, ['link', 'set', o.ifname, 'up'], ['link', 'set', o.ifname, 'down']);
}

/** The inner end: mtu, mac, IPv6 off, addresses, up. Returns the addresses it deletes. */
function innerChanges(c: EndChanges, have: Observed, want: EndpointSpec): ObjectRef[] {
  const h = have.spec;
  const dev = want.ifname;
  if (want.mtu !== undefined && h.mtu !== want.mtu) c.add(`mtu ${h.mtu} -> ${want.mtu}`, ['link', 'set', dev, 'mtu', String(want.mtu)], ['link', 'set', dev, 'mtu', String(h.mtu)]);
  if (want.mac && h.mac !== want.mac) c.add(`mac ${h.mac} -> ${want.mac}`, ['link', 'set', dev, 'address', want.mac], ['link', 'set', dev, 'address', h.mac!]);
  if (!want.ipv6 && h.ipv6)
    c.add(`IPv6 is on (addrgenmode ${have.inner.addrGenMode}), the network has none`, ['link', 'set', dev, 'addrgenmode', 'none'], ['link', 'set', dev, 'addrgenmode', have.inner.addrGenMode ?? 'eui64']);
  // Old addresses go before new ones come: when every IPv4 address goes, the kernel drops the
  // link's IPv4 routes on the way (the passes add them again).
  const addrs = diffAddresses(c.host, c.ns, dev, want.addresses, managedAddresses(have.inner, want.ipv6));
  c.reasons.push(...addrs.reasons);
  c.do.push(...addrs.lines);
  c.undo.push(...addrs.undo);
  if (!have.inner.up) c.add('link is down', ['link', 'set', dev, 'up'], ['link', 'set', dev, 'down']);
  return addrs.removed;
}

function update(ctx: PlanContext, r: ResourcePlan, want: EndpointSpec, have: Observed, upstream: Upstream | undefined): void {
  const reasons: string[] = [];
  const outer = new EndChanges(ctx.host, null, reasons);
  if (want.type === 'veth' && have.spec.type === 'veth' && have.outer) hostEndChanges(outer, r, have.outer, want, have.inner.mtu, upstream);
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
      after: [{ address: `network.${networkOf(ctx, want)}`, phase: 'create' }],
    });
  if (inner.do.length)
    r.step({ phase: 'update', ns: want.netns, action: 'update', description: `update ${want.netns}/${want.ifname}`, do: inner.do, ...(removed.length ? { deletes: removed } : {}), undo: inner.undo.reverse() });
  r.setChange('update', summary(want), reasons);
}

export function planEndpoint(ctx: PlanContext, r: ResourcePlan, want: EndpointSpec | undefined, upstream?: Upstream): void {
  const { found: have, broken } = observeEndpoint(ctx, r.address);
  const stale = ctx.view.owned(r.address + PEER_SUFFIX, null);
  if (have) {
    r.have = have.spec;
    r.inNamespace = have.spec.netns;
  }
  if (!want) {
    if (!have && !broken) return;
    remove(ctx, r, have, broken, 'delete');
    const what = have ? summary(have.spec) : stale ? `veth ${stale.ifname}${stale.master ? ` on ${stale.master}` : ''} (${broken})` : r.address;
    r.setChange('delete', what, ['not in the topology any more']);
    return;
  }
  if (!have && !broken) return create(ctx, r, want, 'create', []);
  const why = broken ?? replaceReason(have!, want) ?? (upstream?.kind === 'namespace-replaced' ? `namespace ${have!.spec.netns} is replaced` : undefined);
  if (why) {
    remove(ctx, r, have, broken, 'replace');
    return create(ctx, r, want, 'replace', [`${why} (forces replacement)`]);
  }
  update(ctx, r, want, have!, upstream);
}

/** The network an endpoint belongs to, from the desired specs of the host. */
function networkOf(ctx: PlanContext, s: EndpointSpec): string {
  if (s.type === 'veth') {
    for (const spec of ctx.desired.values()) {
      if (spec.kind === 'network' && (spec.type === 'bridge' ? spec.ifname : spec.bridge) === s.master) return spec.address.slice('network.'.length);
    }
  }
  return '';
}
