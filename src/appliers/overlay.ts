// overlay networks: on every host with a sandbox on the network, a bridge and a VXLAN device
// enslaved to it (VNI, UDP port, learning off, ARP proxy, local = the host's underlay address).
// There is no control plane: the topology names every host and endpoint, so the forwarding is
// programmed statically on each host:
//   - flood entries (all-zero MAC) towards every other host's underlay address,
//   - for each remote endpoint its MAC in the VXLAN forwarding table (bridge fdb ... self),
//   - and its address in the VXLAN device's neighbour table (answered by the ARP proxy).
import type { FromSchema } from 'json-schema-to-ts';
import { canonicalIp, macFromIp, parseCidr, parseIp } from '../model/addresses.js';
import { bridgeName, hostVethName, vxlanName } from '../model/names.js';
import { networkHosts } from '../model/prepare.js';
import type { Rule } from '../model/rules.js';
import { commonNetwork } from '../model/schema-parts.js';
import type { Endpoint, Network, Topology } from '../model/types.js';
import { endpointBase, type NetworkSpec, type Spec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { cmd, linkRef, mark } from './common.js';
import { defineDriver, type LinkApplier } from './driver.js';
import type { PlanContext } from './types.js';
import { vethEndpoint, vethOtherEnd, type VethSpec } from './veth.js';

const DEFAULT_MTU = 1450;
const DEFAULT_PORT = 4789;
const VNI_MAX = 16777215;

const schema = {
  title: 'overlay network',
  type: 'object',
  additionalProperties: false,
  required: ['driver'],
  properties: {
    driver: { const: 'overlay', description: 'A VXLAN network across hosts, programmed statically from the topology.' },
    ...commonNetwork,
    vni: { description: 'VXLAN network identifier (1..16777215).', type: 'integer' },
    port: { description: 'UDP port of the tunnel. Default: 4789.', type: 'integer' },
  },
} as const;

type Raw = FromSchema<typeof schema>;

export interface OverlayNetwork extends Network {
  driver: 'overlay';
  vni: number;
  port: number;
  /** Kernel names of the per-host bridge and VXLAN device. */
  bridge: string;
  vxlan: string;
}

export interface OverlayEntry {
  mac: string;
  /** Address of the remote endpoint (neighbour entry). */
  ip: string[];
  /** Underlay address of the host the endpoint is on. */
  underlay: string;
}

/** An overlay network's kernel objects on a host: its bridge, its VXLAN device and their entries. */
export interface OverlaySpec extends NetworkSpec {
  driver: 'overlay';
  bridge: string;
  vxlan: string;
  vni: number;
  port: number;
  /** This host's underlay address: the tunnel's local end. */
  local: string;
  mtu: number;
  ipv6: boolean;
  /** Underlay addresses of the other hosts on the network (flood entries). */
  flood: string[];
  /** Endpoints on the other hosts: forwarding and neighbour entries. */
  remote: OverlayEntry[];
}

const isOverlay = (s: Spec | undefined): s is OverlaySpec => s?.kind === 'network' && s.driver === 'overlay';

/** Mark suffix of the VXLAN device of an overlay network. */
const VXLAN_SUFFIX = '/vxlan';
const ZERO_MAC = '00:00:00:00:00:00';

const floodLine = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'append', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self', 'permanent'];
const floodDel = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'del', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self'];
const fdbLine = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'add', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self', 'permanent'];
const fdbDel = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'del', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self'];
const neighLine = (s: Pick<OverlaySpec, 'vxlan'>, ip: string, mac: string) => ['neigh', 'add', ip, 'lladdr', mac, 'dev', s.vxlan, 'nud', 'permanent'];
const neighDel = (s: Pick<OverlaySpec, 'vxlan'>, ip: string) => ['neigh', 'del', ip, 'dev', s.vxlan];

/** Lines (ip) that create the bridge and the VXLAN device, and the static neighbour entries. */
function linkLines(ctx: PlanContext, s: OverlaySpec): string[][] {
  const v6off = (dev: string) => (s.ipv6 ? [] : [['link', 'set', 'dev', dev, 'addrgenmode', 'none']]);
  return [
    ['link', 'add', 'name', s.bridge, 'type', 'bridge'],
    ...v6off(s.bridge),
    ['link', 'set', 'dev', s.bridge, 'alias', mark(ctx, s.address), 'mtu', String(s.mtu), 'up'],
    ['link', 'add', 'name', s.vxlan, 'type', 'vxlan', 'id', String(s.vni), 'local', s.local, 'dstport', String(s.port), 'nolearning', 'proxy'],
    ['link', 'set', 'dev', s.vxlan, 'addrgenmode', 'none'],
    ['link', 'set', 'dev', s.vxlan, 'alias', mark(ctx, s.address + VXLAN_SUFFIX), 'master', s.bridge, 'mtu', String(s.mtu), 'up'],
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

function observeOverlay(ctx: PlanContext, address: string): Observed | { stray: KLink[] } | undefined {
  const bridge = ctx.view.owned(address, null);
  const vxlan = ctx.view.owned(address + VXLAN_SUFFIX, null);
  if (!bridge && !vxlan) return undefined;
  if (!bridge || !vxlan || bridge.kind !== 'bridge' || vxlan.kind !== 'vxlan') return { stray: [bridge, vxlan].filter((l): l is KLink => l !== undefined) };
  return {
    bridge,
    vxlan,
    spec: {
      kind: 'network',
      driver: 'overlay',
      host: ctx.host,
      address,
      bridge: bridge.ifname,
      vxlan: vxlan.ifname,
      vni: Number(vxlan.details?.id ?? 0),
      port: Number(vxlan.details?.port ?? 0),
      local: String(vxlan.details?.local ?? ''),
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
    do: links.map((l) => ['link', 'del', 'dev', l.ifname]),
    deletes: links.map((l) => linkRef(ctx.host, null, l.ifname, { ...(l.kind ? { linkKind: l.kind } : {}) })),
    undo: have ? createCommands(ctx, have.spec) : [],
    after: [{ rel: 'port-deletions' }],
  });
}

function createOverlay(ctx: PlanContext, r: ResourcePlan, s: OverlaySpec, action: 'create' | 'replace', reasons: string[]): void {
  const { host, address } = r;
  const made = createdObjects(ctx, s);
  for (const o of made.slice(0, 2)) {
    const holder = ctx.view.holder(null, o.name);
    if (holder) r.clash({ want: o, holder: linkRef(host, null, o.name), message: `cannot create "${o.name}" for overlay network: the name is taken by ${holder}` });
  }
  r.step({
    phase: 'create',
    ns: null,
    action,
    description: `create overlay bridge ${s.bridge} and vxlan ${s.vxlan} (vni ${s.vni})`,
    do: linkLines(ctx, s),
    creates: made,
    undo: [cmd(host, null, ['link', 'del', 'dev', s.vxlan], { deletes: [made[1]!] }), cmd(host, null, ['link', 'del', 'dev', s.bridge], { deletes: [made[0]!] })],
    after: action === 'replace' ? [{ address, phase: 'delete' }] : [],
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
    if (link.mtu !== want.mtu) c.ip(`${link.ifname} mtu ${link.mtu} -> ${want.mtu}`, ['link', 'set', 'dev', link.ifname, 'mtu', String(want.mtu)], ['link', 'set', 'dev', link.ifname, 'mtu', String(link.mtu)]);
    if (!link.up) c.ip(`${link.ifname} is down`, ['link', 'set', 'dev', link.ifname, 'up'], ['link', 'set', 'dev', link.ifname, 'down']);
  }
  if (have.vxlan.master !== want.bridge) {
    const back = have.vxlan.master ? ['link', 'set', 'dev', want.vxlan, 'master', have.vxlan.master] : ['link', 'set', 'dev', want.vxlan, 'nomaster'];
    c.ip(`${want.vxlan} is not on bridge ${want.bridge}`, ['link', 'set', 'dev', want.vxlan, 'master', want.bridge], back);
  }
  if (have.vxlan.details?.learning === true)
    c.ip(`${want.vxlan} learns addresses; the topology programs them`, ['link', 'set', 'dev', want.vxlan, 'type', 'vxlan', 'nolearning'], ['link', 'set', 'dev', want.vxlan, 'type', 'vxlan', 'learning']);
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

function planOverlay(ctx: PlanContext, r: ResourcePlan, want: OverlaySpec | undefined): void {
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
  if (!links.length) return createOverlay(ctx, r, want, 'create', []);
  const why = have ? replaceReason(have.spec, want) : 'the bridge or the VXLAN device is missing or of another kind';
  if (why) {
    removeOverlay(ctx, r, links, have, 'replace');
    return createOverlay(ctx, r, want, 'replace', [`${why} (forces replacement)`]);
  }
  updateOverlay(ctx, r, want, have!);
}

// ---------------------------------------------------------------- rules

const overlays = (p: Parameters<Rule>[0]) => [...p.networks.values()].filter((n) => n.raw.driver === 'overlay').map((n) => ({ ...n, raw: n.raw as Raw }));

export const overlayVni: Rule = (p, r) => {
  const used = new Map<number, string>();
  for (const net of overlays(p)) {
    const res = `network.${net.name}`;
    const vni = net.raw.vni;
    if (vni === undefined) {
      r.error('overlay-no-vni', `overlay network "${net.name}" needs a vni (1..${VNI_MAX}); every host must agree on it`, net.path, { resource: res, key: true });
    } else if (vni < 1 || vni > VNI_MAX) {
      r.error('vni-range', `vni ${vni} is out of range: VXLAN identifiers are 1 to ${VNI_MAX}`, [...net.path, 'vni'], { resource: res });
    } else if (used.has(vni)) {
      r.error('duplicate-vni', `vni ${vni} is already used by overlay network "${used.get(vni)}"`, [...net.path, 'vni'], { resource: res });
    } else used.set(vni, net.name);
    const port = net.raw.port;
    if (port !== undefined && (port < 1 || port > 65535)) r.error('port-range', `port ${port} is not a UDP port (1..65535)`, [...net.path, 'port'], { resource: res });
  }
};

export const overlayUnderlay: Rule = (p, r) => {
  if (p.broken.sections.hosts) return; // the hosts did not parse: nothing to say about their underlays
  for (const net of overlays(p)) {
    const missing = networkHosts(p, net.name).filter((h) => !p.hosts.get(h)?.raw?.underlay);
    if (missing.length === 0) continue;
    r.error(
      'overlay-no-underlay',
      p.implicitHost
        ? `overlay network "${net.name}" runs between hosts, but the topology declares none`
        : `overlay network "${net.name}" needs the underlay address of host${missing.length > 1 ? 's' : ''} ${missing.map((h) => `"${h}"`).join(', ')}`,
      [...net.path, 'driver'],
      { resource: `network.${net.name}`, hint: 'declare hosts with "underlay: <address>"' },
    );
  }
};

// ---------------------------------------------------------------- the driver

/** The MAC of an endpoint without one: derived from its first address (IPv4 first), as Docker does. */
function macFromAddress(ep: Endpoint): void {
  if (ep.mac) return;
  const first = ep.addresses.map((a) => parseCidr(a, false)!).sort((a, b) => a.family - b.family)[0];
  const ip = first && parseIp(ep.addresses.find((a) => parseCidr(a, false)!.family === first.family)!.split('/')[0]!);
  if (ip) ep.mac = macFromIp(ip.family, ip.value);
}

function expandNetwork(t: Topology, net: Network): Spec[] {
  const n = net as OverlayNetwork;
  const ipv6 = n.subnets.some((s) => s.family === 6);
  const members = [...t.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.network === n.name).map((e) => ({ sb, e })));
  return n.hosts.map(
    (host): OverlaySpec => ({
      kind: 'network',
      driver: 'overlay',
      host,
      address: `network.${n.name}`,
      bridge: n.bridge,
      vxlan: n.vxlan,
      vni: n.vni,
      port: n.port,
      local: t.hosts.get(host)!.underlay!,
      mtu: n.mtu ?? DEFAULT_MTU,
      ipv6,
      flood: n.hosts.filter((h) => h !== host).map((h) => t.hosts.get(h)!.underlay!),
      remote: members.filter(({ sb }) => sb.host !== host).map(({ sb, e }) => ({ mac: e.mac!, ip: e.addresses.map((a) => a.split('/')[0]!), underlay: t.hosts.get(sb.host)!.underlay! })),
    }),
  );
}

const network: LinkApplier = {
  linkKind: 'overlay',
  recognizes: (ctx, address) => ctx.view.owned(address + VXLAN_SUFFIX, null) !== undefined,
  plan: (ctx, r, want) => planOverlay(ctx, r, isOverlay(want) ? want : undefined),
  remove(ctx, r) {
    const observed = observeOverlay(ctx, r.address);
    const have = observed && 'spec' in observed ? observed : undefined;
    const links = have ? [have.vxlan, have.bridge] : observed && 'stray' in observed ? observed.stray : [];
    if (have) r.have = have.spec;
    if (links.length) removeOverlay(ctx, r, links, have, 'replace');
  },
  replace: (ctx, r, want, reason) => createOverlay(ctx, r, want as OverlaySpec, 'replace', [`${reason} (forces replacement)`]),
};

export const overlay = defineDriver({
  name: 'overlay',
  schema,
  model: {
    scope: 'global',
    subnet: { pooled: false, why: ': every host must agree on it' },
    // No gateway of its own: its first address is kept free, so a router sandbox can take it.
    gatewayIn: () => true,
    gatewayReserved: false,
    gatewayOnHost: false,
    // An overlay has no way out; routes can say otherwise.
    defaultRoute: false,
    withoutEndpoints: false,
    leafKeys: {},
    bridge: (name) => ({ name: bridgeName(name), given: false }),
    rules: [overlayVni, overlayUnderlay],
    normalize: (base, raw, prepared): OverlayNetwork => {
      const o = raw as Raw;
      return { ...base, driver: 'overlay', vni: o.vni!, port: o.port ?? DEFAULT_PORT, bridge: prepared.bridge!, vxlan: vxlanName(base.name), mtu: o.mtu ?? DEFAULT_MTU };
    },
    endpoint: (topology, sandbox, ifname) => ({ hostIfname: hostVethName(topology, sandbox, ifname) }),
    allocated: macFromAddress,
  },
  expand: {
    network: (t, net) => expandNetwork(t, net),
    endpoint: (_t, net, ep, at): VethSpec => ({ ...endpointBase(net, ep, at), type: 'veth', hostIfname: ep.hostIfname!, master: (net as OverlayNetwork).bridge, ...(net.mtu !== undefined ? { hostMtu: net.mtu } : {}) }),
  },
  read: {
    linkDetails: {
      vxlan: (data) => ({
        ...(typeof data.id === 'number' ? { id: data.id } : {}),
        ...(typeof data.port === 'number' ? { port: data.port } : {}),
        ...(typeof data.local === 'string' ? { local: canonicalIp(data.local) ?? data.local } : {}),
        ...(typeof data.learning === 'boolean' ? { learning: data.learning } : {}),
        ...(typeof data.proxy === 'boolean' ? { proxy: data.proxy } : {}),
      }),
    },
    fingerprint: (l) => (l.kind === 'vxlan' && l.details ? `vxlan=${l.details.id}:${l.details.port}:${l.details.local}:${l.details.learning ? 'learning' : 'nolearning'}` : undefined),
    hostEntries: true,
  },
  network,
  endpoint: vethEndpoint,
  otherEnd: vethOtherEnd,
  graph: {
    label: (net) => `overlay vni ${(net as OverlayNetwork).vni}`,
    showsGateway: false,
  },
});
