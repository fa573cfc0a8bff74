// overlay networks: on every host with a sandbox on the network, a bridge and a VXLAN device
// enslaved to it (VNI, UDP port, learning off, ARP proxy, local = the host's underlay address).
// There is no control plane: the topology names every host and endpoint, so the forwarding is
// programmed statically on each host:
//   - flood entries (all-zero MAC) towards every other host's underlay address,
//   - for each remote endpoint its MAC in the VXLAN forwarding table (bridge fdb ... self),
//   - and its address in the VXLAN device's neighbour table (answered by the ARP proxy).
import type { OverlayEntry, OverlaySpec } from '../planner/desired.js';
import type { Command } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { ObjectRef } from '../planner/types.js';
import { cmd, linkRef, mark } from './common.js';
import type { PlanContext } from './types.js';

/** Mark suffix of the VXLAN device of an overlay network. */
export const VXLAN_SUFFIX = '/vxlan';
const ZERO_MAC = '00:00:00:00:00:00';

const floodLine = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'append', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self', 'permanent'];
const floodDel = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'del', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self'];
const fdbLine = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'add', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self', 'permanent'];
const fdbDel = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'del', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self'];
const neighLine = (s: Pick<OverlaySpec, 'vxlan'>, ip: string, mac: string) => ['neigh', 'add', ip, 'lladdr', mac, 'dev', s.vxlan, 'nud', 'permanent'];
const neighDel = (s: Pick<OverlaySpec, 'vxlan'>, ip: string) => ['neigh', 'del', ip, 'dev', s.vxlan];

/** Lines (ip) that create the bridge and the VXLAN device, and the static neighbour entries. */
function linkLines(ctx: PlanContext, s: OverlaySpec): string[][] {
  const v6off = (dev: string) => (s.ipv6 ? [] : [['link', 'set', dev, 'addrgenmode', 'none']]);
  return [
    ['link', 'add', s.bridge, 'type', 'bridge'],
    ...v6off(s.bridge),
    ['link', 'set', s.bridge, 'alias', mark(ctx, s.address), 'mtu', String(s.mtu), 'up'],
    ['link', 'add', s.vxlan, 'type', 'vxlan', 'id', String(s.vni), 'local', s.local, 'dstport', String(s.port), 'nolearning', 'proxy'],
    ['link', 'set', s.vxlan, 'addrgenmode', 'none'],
    ['link', 'set', s.vxlan, 'alias', mark(ctx, s.address + VXLAN_SUFFIX), 'master', s.bridge, 'mtu', String(s.mtu), 'up'],
    ...s.remote.flatMap((e) => e.ip.map((ip) => neighLine(s, ip, e.mac))),
  ];
}

const neighRef = (host: string, s: Pick<OverlaySpec, 'vxlan'>, ip: string): ObjectRef => ({ kind: 'neigh', host, ns: null, name: ip, dev: s.vxlan });
const fdbRef = (host: string, s: Pick<OverlaySpec, 'vxlan'>, mac: string, dst: string): ObjectRef => ({ kind: 'fdb', host, ns: null, name: `${mac} ${dst}`, dev: s.vxlan });

/** The objects the create step makes: the two links and the neighbour entries. */
function createdObjects(ctx: PlanContext, s: OverlaySpec): ObjectRef[] {
  return [
    linkRef(ctx.host, null, s.bridge, { linkKind: 'bridge', mark: s.address }),
    linkRef(ctx.host, null, s.vxlan, { linkKind: 'vxlan', mark: s.address + VXLAN_SUFFIX }),
    ...s.remote.flatMap((e) => e.ip.map((ip) => neighRef(ctx.host, s, ip))),
  ];
}

/** Lines (bridge) that program the VXLAN forwarding table. */
function fdbLines(s: OverlaySpec): string[][] {
  return [...s.flood.map((d) => floodLine(s, d)), ...s.remote.map((e) => fdbLine(s, e))];
}

function createCommands(ctx: PlanContext, s: OverlaySpec): Command[] {
  return [...linkLines(ctx, s).map((l) => cmd(ctx.host, null, l)), ...fdbLines(s).map((l) => cmd(ctx.host, null, l, { tool: 'bridge' }))];
}

interface Observed {
  spec: OverlaySpec;
  bridge: KLink;
  vxlan: KLink;
}

/** The static entries of the VXLAN device, read back as remote endpoints. */
function observedRemote(ctx: PlanContext, vxlan: KLink): { flood: string[]; remote: OverlayEntry[] } {
  const root = ctx.view.state.root;
  const fdb = root.fdb.filter((f) => f.dev === vxlan.ifname && f.dst);
  const neigh = root.neigh.filter((n) => n.dev === vxlan.ifname && n.permanent && n.lladdr);
  const remote = new Map<string, OverlayEntry>();
  for (const f of fdb) if (f.mac !== ZERO_MAC) remote.set(f.mac, { mac: f.mac, ip: [], underlay: f.dst! });
  for (const n of neigh) {
    const e = remote.get(n.lladdr!) ?? { mac: n.lladdr!, ip: [], underlay: '' };
    e.ip.push(n.dst);
    remote.set(n.lladdr!, e);
  }
  return { flood: fdb.filter((f) => f.mac === ZERO_MAC).map((f) => f.dst!), remote: [...remote.values()] };
}

export function observeOverlay(ctx: PlanContext, address: string): Observed | { stray: KLink[] } | undefined {
  const bridge = ctx.view.owned(address, null);
  const vxlan = ctx.view.owned(address + VXLAN_SUFFIX, null);
  if (!bridge && !vxlan) return undefined;
  if (!bridge || !vxlan || bridge.kind !== 'bridge' || vxlan.kind !== 'vxlan') return { stray: [bridge, vxlan].filter((l): l is KLink => l !== undefined) };
  return {
    bridge,
    vxlan,
    spec: {
      kind: 'network',
      type: 'overlay',
      host: ctx.host,
      address,
      bridge: bridge.ifname,
      vxlan: vxlan.ifname,
      vni: vxlan.vxlan?.id ?? 0,
      port: vxlan.vxlan?.port ?? 0,
      local: vxlan.vxlan?.local ?? '',
      mtu: bridge.mtu,
      ipv6: bridge.addrGenMode !== 'none',
      ...observedRemote(ctx, vxlan),
    },
  };
}

const summary = (s: OverlaySpec) =>
  `overlay vni ${s.vni}: bridge ${s.bridge} + vxlan ${s.vxlan} (local ${s.local}, port ${s.port}, ${s.flood.length} peer host${s.flood.length === 1 ? '' : 's'}, ${s.remote.length} remote endpoint${s.remote.length === 1 ? '' : 's'})`;

function replaceReason(have: OverlaySpec, want: OverlaySpec): string | undefined {
  if (have.bridge !== want.bridge) return `bridge ${have.bridge} -> ${want.bridge}`;
  if (have.vxlan !== want.vxlan) return `vxlan ${have.vxlan} -> ${want.vxlan}`;
  if (have.vni !== want.vni) return `vni ${have.vni} -> ${want.vni}`;
  if (have.port !== want.port) return `port ${have.port} -> ${want.port}`;
  if (have.local !== want.local) return `local address ${have.local} -> ${want.local}`;
  return undefined;
}

function removeOverlay(ctx: PlanContext, r: ResourcePlan, links: KLink[], have: Observed | undefined, action: 'delete' | 'replace'): void {
  const bridge = links.find((l) => l.kind === 'bridge');
  const foreign = bridge ? ctx.view.foreignPorts(bridge.ifname) : [];
  if (foreign.length) {
    r.error(`cannot delete bridge "${bridge!.ifname}": interfaces tsnet does not own are attached to it: ${foreign.join(', ')}; detach them first`);
    return;
  }
  r.step({
    phase: 'delete',
    ns: null,
    action,
    deletion: true,
    description: `delete overlay ${links.map((l) => l.ifname).join(' and ')}`,
    do: links.map((l) => ['link', 'del', l.ifname]),
    deletes: links.map((l) => linkRef(ctx.host, null, l.ifname, { ...(l.kind ? { linkKind: l.kind } : {}) })),
    undo: have ? createCommands(ctx, have.spec) : [],
    after: [{ rel: 'port-deletions' }],
  });
}

function createOverlay(ctx: PlanContext, r: ResourcePlan, s: OverlaySpec, replacing: KLink[] | undefined, reasons: string[]): void {
  const { host, address } = r;
  const action = replacing ? 'replace' : 'create';
  const made = createdObjects(ctx, s);
  for (const o of made.slice(0, 2)) {
    const holder = ctx.view.holder(null, o.name);
    if (holder && !replacing?.some((l) => l.ifname === o.name)) r.clash({ want: o, holder: linkRef(host, null, o.name), message: `cannot create "${o.name}" for overlay network: the name is taken by ${holder}` });
  }
  r.step({
    phase: 'create',
    ns: null,
    action,
    description: `create overlay bridge ${s.bridge} and vxlan ${s.vxlan} (vni ${s.vni})`,
    do: linkLines(ctx, s),
    creates: made,
    undo: [cmd(host, null, ['link', 'del', s.vxlan], { deletes: [made[1]!] }), cmd(host, null, ['link', 'del', s.bridge], { deletes: [made[0]!] })],
    after: replacing ? [{ address, phase: 'delete' }] : [],
  });
  const fdb = fdbLines(s);
  if (fdb.length)
    r.step({
      phase: 'fdb',
      ns: null,
      tool: 'bridge',
      action,
      description: `program ${fdb.length} forwarding entr${fdb.length === 1 ? 'y' : 'ies'} on ${s.vxlan}`,
      do: fdb,
      creates: [...s.flood.map((d) => fdbRef(host, s, ZERO_MAC, d)), ...s.remote.map((e) => fdbRef(host, s, e.mac, e.underlay))],
      undo: [],
      after: [{ address, phase: 'create' }],
    });
  r.setChange(action, summary(s), reasons);
}

/** Changes made in place, with their undo, per tool; and the entries they touch. */
class InPlace {
  readonly reasons: string[] = [];
  readonly ipDo: string[][] = [];
  readonly ipUndo: Command[] = [];
  readonly brDo: string[][] = [];
  readonly brUndo: Command[] = [];
  readonly entries: ObjectRef[] = [];
  constructor(readonly host: string) {}
  ip(reason: string, line: string[], undo: string[]): void {
    this.reasons.push(reason);
    this.ipDo.push(line);
    this.ipUndo.push(cmd(this.host, null, undo));
  }
  bridge(reason: string, line: string[], undo: string[], entry: ObjectRef): void {
    this.reasons.push(reason);
    this.brDo.push(line);
    this.brUndo.push(cmd(this.host, null, undo, { tool: 'bridge' }));
    this.entries.push(entry);
  }
}

/** mtu, up, enslaved, learning off. */
function linkChanges(c: InPlace, have: Observed, want: OverlaySpec): void {
  for (const link of [have.bridge, have.vxlan]) {
    if (link.mtu !== want.mtu) c.ip(`${link.ifname} mtu ${link.mtu} -> ${want.mtu}`, ['link', 'set', link.ifname, 'mtu', String(want.mtu)], ['link', 'set', link.ifname, 'mtu', String(link.mtu)]);
    if (!link.up) c.ip(`${link.ifname} is down`, ['link', 'set', link.ifname, 'up'], ['link', 'set', link.ifname, 'down']);
  }
  if (have.vxlan.master !== want.bridge) {
    const back = have.vxlan.master ? ['link', 'set', want.vxlan, 'master', have.vxlan.master] : ['link', 'set', want.vxlan, 'nomaster'];
    c.ip(`${want.vxlan} is not on bridge ${want.bridge}`, ['link', 'set', want.vxlan, 'master', want.bridge], back);
  }
  if (have.vxlan.vxlan?.learning)
    c.ip(`${want.vxlan} learns addresses; the topology programs them`, ['link', 'set', want.vxlan, 'type', 'vxlan', 'nolearning'], ['link', 'set', want.vxlan, 'type', 'vxlan', 'learning']);
}

/** Flood entries, and the forwarding entries of remote endpoints (by MAC). */
function forwardingChanges(c: InPlace, have: OverlaySpec, want: OverlaySpec): void {
  const ref = (mac: string, dst: string) => fdbRef(c.host, want, mac, dst);
  for (const d of have.flood.filter((d) => !want.flood.includes(d))) c.bridge(`flood entry to ${d} is not in the topology`, floodDel(want, d), floodLine(want, d), ref(ZERO_MAC, d));
  for (const d of want.flood.filter((d) => !have.flood.includes(d))) c.bridge(`flood entry to ${d} missing`, floodLine(want, d), floodDel(want, d), ref(ZERO_MAC, d));
  const haveByMac = new Map(have.remote.filter((e) => e.underlay).map((e) => [e.mac, e]));
  const wantByMac = new Map(want.remote.map((e) => [e.mac, e]));
  for (const [mac, e] of haveByMac) {
    if (wantByMac.get(mac)?.underlay === e.underlay) continue;
    c.bridge(`forwarding entry ${mac} -> ${e.underlay} is not in the topology`, fdbDel(want, e), fdbLine(want, e), ref(mac, e.underlay));
  }
  for (const [mac, e] of wantByMac) {
    if (haveByMac.get(mac)?.underlay === e.underlay) continue;
    c.bridge(`forwarding entry ${mac} -> ${e.underlay} missing`, fdbLine(want, e), fdbDel(want, e), ref(mac, e.underlay));
  }
}

/** Neighbour entries (address -> MAC) for the ARP proxy. */
function neighbourChanges(c: InPlace, have: OverlaySpec, want: OverlaySpec): void {
  const haveNeigh = new Map(have.remote.flatMap((e) => e.ip.map((ip) => [ip, e.mac] as const)));
  const wantNeigh = new Map(want.remote.flatMap((e) => e.ip.map((ip) => [ip, e.mac] as const)));
  const replace = (ip: string, mac: string) => ['neigh', 'replace', ip, 'lladdr', mac, 'dev', want.vxlan, 'nud', 'permanent'];
  for (const [ip, mac] of haveNeigh) {
    if (wantNeigh.get(ip) === mac) continue;
    c.ip(`neighbour ${ip} -> ${mac} is not in the topology`, neighDel(want, ip), neighLine(want, ip, mac));
    c.entries.push(neighRef(c.host, want, ip));
  }
  for (const [ip, mac] of wantNeigh) {
    if (haveNeigh.get(ip) === mac) continue;
    const old = haveNeigh.get(ip);
    c.ip(`neighbour ${ip} -> ${mac} missing`, old ? replace(ip, mac) : neighLine(want, ip, mac), old ? replace(ip, old) : neighDel(want, ip));
    c.entries.push(neighRef(c.host, want, ip));
  }
}

/** In place: mtu, up, learning, flood, forwarding and neighbour entries. */
function updateOverlay(ctx: PlanContext, r: ResourcePlan, want: OverlaySpec, have: Observed): void {
  const c = new InPlace(ctx.host);
  linkChanges(c, have, want);
  forwardingChanges(c, have.spec, want);
  neighbourChanges(c, have.spec, want);
  if (!c.reasons.length) return;
  const touched = c.entries.filter((o) => o.kind === 'neigh');
  if (c.ipDo.length) r.step({ phase: 'update', ns: null, action: 'update', description: `update overlay ${want.vxlan}`, do: c.ipDo, ...(touched.length ? { creates: touched } : {}), undo: c.ipUndo.reverse() });
  if (c.brDo.length)
    r.step({
      phase: 'fdb',
      ns: null,
      tool: 'bridge',
      action: 'update',
      description: `update forwarding entries on ${want.vxlan}`,
      do: c.brDo,
      creates: c.entries.filter((o) => o.kind === 'fdb'),
      undo: c.brUndo.reverse(),
      after: [{ address: r.address, phase: 'update' }],
    });
  r.setChange('update', summary(want), c.reasons);
}

export function planOverlay(ctx: PlanContext, r: ResourcePlan, want: OverlaySpec | undefined): void {
  const observed = observeOverlay(ctx, r.address);
  const have = observed && 'spec' in observed ? observed : undefined;
  const links = have ? [have.vxlan, have.bridge] : observed && 'stray' in observed ? observed.stray : [];
  if (have) r.have = have.spec;
  if (!want) {
    if (!links.length) return;
    removeOverlay(ctx, r, links, have, 'delete');
    r.setChange('delete', have ? summary(have.spec) : `overlay ${r.address}`, ['not in the topology any more']);
    return;
  }
  if (!links.length) return createOverlay(ctx, r, want, undefined, []);
  const why = have ? replaceReason(have.spec, want) : 'the bridge or the VXLAN device is missing or of another kind';
  if (why) {
    removeOverlay(ctx, r, links, have, 'replace');
    return createOverlay(ctx, r, want, links, [`${why} (forces replacement)`]);
  }
  updateOverlay(ctx, r, want, have!);
}
