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
import { cmd, linkRef, mark, type Context } from './common.js';
import type { ObjectRef } from '../planner/types.js';

/** Mark suffix of the VXLAN device of an overlay network. */
export const VXLAN_SUFFIX = '/vxlan';
const ZERO_MAC = '00:00:00:00:00:00';

/** The resource address an owned overlay link belongs to ("network.x/vxlan" -> "network.x"). */
export const overlayAddresses = (markAddress: string): string =>
  markAddress.endsWith(VXLAN_SUFFIX) ? markAddress.slice(0, -VXLAN_SUFFIX.length) : markAddress;

const floodLine = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'append', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self', 'permanent'];
const floodDel = (s: Pick<OverlaySpec, 'vxlan'>, dst: string) => ['fdb', 'del', ZERO_MAC, 'dev', s.vxlan, 'dst', dst, 'self'];
const fdbLine = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'add', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self', 'permanent'];
const fdbDel = (s: Pick<OverlaySpec, 'vxlan'>, e: OverlayEntry) => ['fdb', 'del', e.mac, 'dev', s.vxlan, 'dst', e.underlay, 'self'];
const neighLine = (s: Pick<OverlaySpec, 'vxlan'>, ip: string, mac: string) => ['neigh', 'add', ip, 'lladdr', mac, 'dev', s.vxlan, 'nud', 'permanent'];
const neighDel = (s: Pick<OverlaySpec, 'vxlan'>, ip: string) => ['neigh', 'del', ip, 'dev', s.vxlan];

/** Lines (ip) that create the bridge and the VXLAN device, and the static neighbour entries. */
function linkLines(ctx: Context, s: OverlaySpec): string[][] {
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
function createdObjects(ctx: Context, s: OverlaySpec): ObjectRef[] {
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

function createCommands(ctx: Context, s: OverlaySpec): Command[] {
  return [...linkLines(ctx, s).map((l) => cmd(ctx.host, null, l)), ...fdbLines(s).map((l) => cmd(ctx.host, null, l, { tool: 'bridge' }))];
}

interface Observed {
  spec: OverlaySpec;
  bridge: KLink;
  vxlan: KLink;
}

export function observeOverlay(ctx: Context, address: string): Observed | { stray: KLink[] } | undefined {
  const bridge = ctx.view.owned(address, null);
  const vxlan = ctx.view.owned(address + VXLAN_SUFFIX, null);
  if (!bridge && !vxlan) return undefined;
  if (!bridge || !vxlan || bridge.kind !== 'bridge' || vxlan.kind !== 'vxlan') return { stray: [bridge, vxlan].filter((l): l is KLink => l !== undefined) };
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
      flood: fdb.filter((f) => f.mac === ZERO_MAC).map((f) => f.dst!),
      remote: [...remote.values()],
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

export function planOverlay(ctx: Context, address: string, want: OverlaySpec | undefined): void {
  const { host, sink } = ctx;
  const observed = observeOverlay(ctx, address);
  const have = observed && 'spec' in observed ? observed : undefined;
  const stray = observed && 'stray' in observed ? observed.stray : [];

  const remove = (action: 'delete' | 'replace') => {
    const links = have ? [have.vxlan, have.bridge] : stray;
    const bridge = have?.bridge ?? stray.find((l) => l.kind === 'bridge');
    const foreign = bridge ? ctx.view.foreignPorts(bridge.ifname) : [];
    if (foreign.length) {
      sink.error(host, address, `cannot delete bridge "${bridge!.ifname}": interfaces tsnet does not own are attached to it: ${foreign.join(', ')}; detach them first`);
      return;
    }
    // The bridge's ports go off it with it: endpoints put their host ends back on the new one.
    for (const l of links) ctx.dyingLinks.set(`/${l.ifname}`, { host, address, phase: 'delete' });
    sink.step(host, address, {
      phase: 'delete',
      ns: null,
      action,
      deletion: true,
      description: `delete overlay ${links.map((l) => l.ifname).join(' and ')}`,
      do: links.map((l) => ['link', 'del', l.ifname]),
      deletes: links.map((l) => linkRef(host, null, l.ifname, { ...(l.kind ? { linkKind: l.kind } : {}) })),
      undo: have ? createCommands(ctx, have.spec) : [],
      after: [{ rel: 'port-deletions' }],
    });
  };
  const create = (action: 'create' | 'replace', reasons: string[]) => {
    const s = want!;
    for (const name of [s.bridge, s.vxlan]) {
      const holder = ctx.view.holder(null, name);
      if (holder && !(have && (have.bridge.ifname === name || have.vxlan.ifname === name)) && !stray.some((l) => l.ifname === name))
        return sink.error(host, address, `cannot create "${name}" for overlay network: the name is taken by ${holder}`);
    }
    sink.step(host, address, {
      phase: 'create',
      ns: null,
      action,
      description: `create overlay bridge ${s.bridge} and vxlan ${s.vxlan} (vni ${s.vni})`,
      do: linkLines(ctx, s),
      creates: createdObjects(ctx, s),
      undo: [
        cmd(host, null, ['link', 'del', s.vxlan], { deletes: [linkRef(host, null, s.vxlan, { mark: address + VXLAN_SUFFIX })] }),
        cmd(host, null, ['link', 'del', s.bridge], { deletes: [linkRef(host, null, s.bridge, { mark: address })] }),
      ],
      after: have || stray.length ? [{ address, phase: 'delete' }] : [],
    });
    const fdb = fdbLines(s);
    if (fdb.length)
      sink.step(host, address, {
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
    sink.change(host, address, 'network', action, summary(s), reasons);
  };

  if (!want && (have || stray.length)) {
    remove('delete');
    sink.change(host, address, 'network', 'delete', have ? summary(have.spec) : `overlay ${address}`, ['not in the topology any more']);
    return;
  }
  if (!want) return;
  if (!have && !stray.length) return create('create', []);
  if (!have) {
    remove('replace');
    return create('replace', ['the bridge or the VXLAN device is missing or of another kind (forces replacement)']);
  }
  const why = replaceReason(have.spec, want);
  if (why) {
    remove('replace');
    return create('replace', [`${why} (forces replacement)`]);
  }

  // In place: mtu, up, learning, flood/fdb/neighbour entries.
  const reasons: string[] = [];
  const ipDo: string[][] = [];
  const ipUndo: Command[] = [];
  const brDo: string[][] = [];
  const brUndo: Command[] = [];
  for (const link of [have.bridge, have.vxlan]) {
    if (link.mtu !== want.mtu) {
      reasons.push(`${link.ifname} mtu ${link.mtu} -> ${want.mtu}`);
      ipDo.push(['link', 'set', link.ifname, 'mtu', String(want.mtu)]);
      ipUndo.push(cmd(host, null, ['link', 'set', link.ifname, 'mtu', String(link.mtu)]));
    }
    if (!link.up) {
      reasons.push(`${link.ifname} is down`);
      ipDo.push(['link', 'set', link.ifname, 'up']);
      ipUndo.push(cmd(host, null, ['link', 'set', link.ifname, 'down']));
    }
  }
  if (have.vxlan.master !== want.bridge) {
    reasons.push(`${want.vxlan} is not on bridge ${want.bridge}`);
    ipDo.push(['link', 'set', want.vxlan, 'master', want.bridge]);
    ipUndo.push(cmd(host, null, have.vxlan.master ? ['link', 'set', want.vxlan, 'master', have.vxlan.master] : ['link', 'set', want.vxlan, 'nomaster']));
  }
  if (have.vxlan.vxlan?.learning) {
    reasons.push(`${want.vxlan} learns addresses; the topology programs them`);
    ipDo.push(['link', 'set', want.vxlan, 'type', 'vxlan', 'nolearning']);
    ipUndo.push(cmd(host, null, ['link', 'set', want.vxlan, 'type', 'vxlan', 'learning']));
  }
  // Flood entries.
  for (const d of have.spec.flood.filter((d) => !want.flood.includes(d))) {
    reasons.push(`flood entry to ${d} is not in the topology`);
    brDo.push(floodDel(want, d));
    brUndo.push(cmd(host, null, floodLine(want, d), { tool: 'bridge' }));
  }
  for (const d of want.flood.filter((d) => !have.spec.flood.includes(d))) {
    reasons.push(`flood entry to ${d} missing`);
    brDo.push(floodLine(want, d));
    brUndo.push(cmd(host, null, floodDel(want, d), { tool: 'bridge' }));
  }
  // Forwarding entries of remote endpoints (by MAC).
  const haveByMac = new Map(have.spec.remote.filter((e) => e.underlay).map((e) => [e.mac, e]));
  const wantByMac = new Map(want.remote.map((e) => [e.mac, e]));
  for (const [mac, e] of haveByMac) {
    const w = wantByMac.get(mac);
    if (w && w.underlay === e.underlay) continue;
    reasons.push(`forwarding entry ${mac} -> ${e.underlay} is not in the topology`);
    brDo.push(fdbDel(want, e));
    brUndo.push(cmd(host, null, fdbLine(want, e), { tool: 'bridge' }));
  }
  for (const [mac, e] of wantByMac) {
    const h = haveByMac.get(mac);
    if (h && h.underlay === e.underlay) continue;
    reasons.push(`forwarding entry ${mac} -> ${e.underlay} missing`);
    brDo.push(fdbLine(want, e));
    brUndo.push(cmd(host, null, fdbDel(want, e), { tool: 'bridge' }));
  }
  // Neighbour entries (address -> MAC) for the ARP proxy.
  const haveNeigh = new Map(have.spec.remote.flatMap((e) => e.ip.map((ip) => [ip, e.mac] as const)));
  const wantNeigh = new Map(want.remote.flatMap((e) => e.ip.map((ip) => [ip, e.mac] as const)));
  for (const [ip, mac] of haveNeigh) {
    if (wantNeigh.get(ip) === mac) continue;
    reasons.push(`neighbour ${ip} -> ${mac} is not in the topology`);
    ipDo.push(neighDel(want, ip));
    ipUndo.push(cmd(host, null, neighLine(want, ip, mac)));
  }
  for (const [ip, mac] of wantNeigh) {
    if (haveNeigh.get(ip) === mac) continue;
    reasons.push(`neighbour ${ip} -> ${mac} missing`);
    ipDo.push(haveNeigh.has(ip) ? ['neigh', 'replace', ip, 'lladdr', mac, 'dev', want.vxlan, 'nud', 'permanent'] : neighLine(want, ip, mac));
    ipUndo.push(cmd(host, null, haveNeigh.has(ip) ? ['neigh', 'replace', ip, 'lladdr', haveNeigh.get(ip)!, 'dev', want.vxlan, 'nud', 'permanent'] : neighDel(want, ip)));
  }
  if (!reasons.length) return;
  const neighChanged = [...new Set([...haveNeigh.keys(), ...wantNeigh.keys()])].filter((ip) => haveNeigh.get(ip) !== wantNeigh.get(ip)).map((ip) => neighRef(host, want, ip));
  if (ipDo.length) sink.step(host, address, { phase: 'update', ns: null, action: 'update', description: `update overlay ${want.vxlan}`, do: ipDo, creates: neighChanged, undo: ipUndo.reverse() });
  if (brDo.length)
    sink.step(host, address, {
      phase: 'fdb',
      ns: null,
      tool: 'bridge',
      action: 'update',
      description: `update forwarding entries on ${want.vxlan}`,
      do: brDo,
      creates: [fdbRef(host, want, '*', '*')],
      undo: brUndo.reverse(),
      after: [{ address, phase: 'update' }],
    });
  sink.change(host, address, 'network', 'update', summary(want), reasons);
}
