// bridge networks: a Linux bridge on the host, marked, with its mtu, up, and the gateway addresses.
import type { BridgeSpec } from '../planner/desired.js';
import type { Command } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { formatCidr, overlaps, parseCidr } from '../model/addresses.js';
import { parseMark } from '../state/ownership.js';
import { addrAdd, cmd, diffAddresses, linkRef, managedAddresses, mark, type Context } from './common.js';

/**
 * Creating a bridge. IPv6 is turned off (addrgenmode none) on a line of its own before the link
 * comes up: in one `link set` the kernel brings the link up first, and the link-local address
 * would already be there.
 */
export function bridgeCreateLines(ctx: Context, spec: BridgeSpec): string[][] {
  return [
    ['link', 'add', spec.ifname, 'type', 'bridge'],
    ...(spec.ipv6 ? [] : [['link', 'set', spec.ifname, 'addrgenmode', 'none']]),
    ['link', 'set', spec.ifname, 'alias', mark(ctx, spec.address), 'mtu', String(spec.mtu), 'up'],
    ...spec.addresses.map((a) => addrAdd(a, spec.ifname)),
  ];
}

export function observeBridge(ctx: Context, address: string): { spec: BridgeSpec; link: KLink } | undefined {
  const link = ctx.view.owned(address, null);
  if (!link || link.kind !== 'bridge') return undefined;
  const ipv6 = link.addrGenMode !== 'none';
  return {
    link,
    spec: { kind: 'network', type: 'bridge', host: ctx.host, address, ifname: link.ifname, mtu: link.mtu, addresses: managedAddresses(link, ipv6), ipv6 },
  };
}

const summary = (s: BridgeSpec) => `bridge ${s.ifname}${s.addresses.length ? ` ${s.addresses.join(' ')}` : ''}${s.mtu !== 1500 ? ` mtu ${s.mtu}` : ''}`;

/**
 * Routes of the host's own stack that a bridge's subnets would collide with: on links this
 * topology does not own (the host's LAN, a user's bridge, another topology's network). Putting
 * the gateway there would take over the host's addresses or routing, so the plan refuses.
 */
function hostRouteClashes(ctx: Context, want: BridgeSpec): string[] {
  const root = ctx.view.state.root;
  const clashes: string[] = [];
  for (const a of want.addresses) {
    const subnet = parseCidr(a, false);
    if (!subnet) continue;
    for (const r of root.routes) {
      if (r.dst === 'default' || r.family !== subnet.family) continue;
      const dst = parseCidr(r.dst, false);
      if (!dst || !overlaps(dst, subnet)) continue;
      // A route inside the subnet (or equal to it) would be shadowed; a broader one clashes only
      // when it is a LAN the host sits on (the kernel's connected route): the bridge would take
      // part of it. Broader routes via gateways or tunnels (a VPN's 0.0.0.0/1) do not conflict.
      if (dst.prefixLength < subnet.prefixLength && r.protocol !== 'kernel') continue;
      const dev = r.dev ? root.links.find((l) => l.ifname === r.dev) : undefined;
      const mark = parseMark(dev?.alias);
      if (mark?.topology === ctx.topology || (r.dev && ctx.view.halfMade.has(`/${r.dev}`))) continue;
      const owner = !dev ? '' : mark ? `, owned by topology "${mark.topology}"` : ', not made by tsnet';
      clashes.push(`${r.dst}${r.dev ? ` dev ${r.dev}${owner}` : ''}`);
    }
  }
  return clashes;
}

export function planBridge(ctx: Context, address: string, want: BridgeSpec | undefined): void {
  const { host, sink } = ctx;
  const have = observeBridge(ctx, address);
  if (want) {
    const clashes = hostRouteClashes(ctx, want);
    if (clashes.length) {
      const subnets = want.addresses.map((a) => formatCidr(parseCidr(a, false)!)).join(' and ');
      sink.error(host, address, `the subnet ${subnets} overlaps the host's own route${clashes.length === 1 ? '' : 's'} to ${clashes.join('; ')}: the gateway on bridge "${want.ifname}" would take over the host's routing there; pick another subnet`);
      return;
    }
  }
  const undoCreate = (s: BridgeSpec): Command[] => bridgeCreateLines(ctx, s).map((l, i) => cmd(host, null, l, i === 0 ? { creates: [linkRef(host, null, s.ifname, { linkKind: 'bridge' })] } : {}));

  const remove = (action: 'delete' | 'replace') => {
    const foreign = ctx.view.foreignPorts(have!.spec.ifname);
    if (foreign.length) {
      sink.error(host, address, `cannot delete bridge "${have!.spec.ifname}": interfaces tsnet does not own are attached to it: ${foreign.join(', ')}; detach them first`);
      return undefined;
    }
    ctx.dyingLinks.set(`/${have!.spec.ifname}`, { host, address, phase: 'delete' });
    return sink.step(host, address, {
      phase: 'delete',
      ns: null,
      action,
      deletion: true,
      description: `delete bridge ${have!.spec.ifname}`,
      do: [['link', 'del', have!.spec.ifname]],
      deletes: [linkRef(host, null, have!.spec.ifname, { linkKind: 'bridge', mark: address })],
      undo: undoCreate(have!.spec),
      after: [{ rel: 'port-deletions' }],
    });
  };
  const create = (action: 'create' | 'replace', reasons: string[]) => {
    const holder = ctx.view.holder(null, want!.ifname);
    // A name this plan frees first (our own link, deleted before anything is made) is no clash.
    if (holder && !(have && have.spec.ifname === want!.ifname) && !ctx.dyingLinks.has(`/${want!.ifname}`)) {
      sink.error(host, address, `cannot create bridge "${want!.ifname}": the name is taken by ${holder}`);
      return;
    }
    sink.step(host, address, {
      phase: 'create',
      ns: null,
      action,
      description: `create bridge ${want!.ifname}`,
      do: bridgeCreateLines(ctx, want!),
      creates: [linkRef(host, null, want!.ifname, { linkKind: 'bridge', mark: address })],
      undo: [cmd(host, null, ['link', 'del', want!.ifname], { deletes: [linkRef(host, null, want!.ifname, { mark: address })] })],
      after: have || action === 'replace' ? [{ address, phase: 'delete' }] : [],
    });
    sink.change(host, address, 'network', action, summary(want!), reasons);
  };

  if (!want && have) {
    remove('delete');
    sink.change(host, address, 'network', 'delete', summary(have.spec), ['not in the topology any more']);
    return;
  }
  if (want && !have) {
    const stray = ctx.view.owned(address, null);
    if (stray) {
      // Our mark on something that is not a bridge: rebuild it.
      const id = sink.step(host, address, {
        phase: 'delete',
        ns: null,
        action: 'replace',
        deletion: true,
        description: `delete ${stray.ifname}`,
        do: [['link', 'del', stray.ifname]],
        deletes: [linkRef(host, null, stray.ifname, { mark: address })],
        undo: [],
      });
      ctx.dyingLinks.set(`/${stray.ifname}`, id);
      return create('replace', [`${stray.ifname} is a ${stray.kind ?? 'plain link'}, not a bridge (forces replacement)`]);
    }
    return create('create', []);
  }
  if (!want || !have) return;

  if (have.spec.ifname !== want.ifname) {
    remove('replace');
    return create('replace', [`name ${have.spec.ifname} -> ${want.ifname} (forces replacement)`]);
  }
  const reasons: string[] = [];
  const lines: string[][] = [];
  const undo: Command[] = [];
  const dev = want.ifname;
  if (have.spec.mtu !== want.mtu) {
    reasons.push(`mtu ${have.spec.mtu} -> ${want.mtu}`);
    lines.push(['link', 'set', dev, 'mtu', String(want.mtu)]);
    undo.push(cmd(host, null, ['link', 'set', dev, 'mtu', String(have.spec.mtu)]));
  }
  if (!want.ipv6 && have.spec.ipv6) {
    reasons.push(`IPv6 is on (addrgenmode ${have.link.addrGenMode}), the network has none`);
    lines.push(['link', 'set', dev, 'addrgenmode', 'none']);
    undo.push(cmd(host, null, ['link', 'set', dev, 'addrgenmode', have.link.addrGenMode ?? 'eui64']));
  }
  const addrs = diffAddresses(host, null, dev, want.addresses, managedAddresses(have.link, want.ipv6));
  reasons.push(...addrs.reasons);
  lines.push(...addrs.lines);
  undo.push(...addrs.undo);
  if (!have.link.up) {
    reasons.push('link is down');
    lines.push(['link', 'set', dev, 'up']);
    undo.push(cmd(host, null, ['link', 'set', dev, 'down']));
  }
  if (!reasons.length) return;
  sink.step(host, address, { phase: 'update', ns: null, action: 'update', description: `update bridge ${dev}`, do: lines, undo: undo.reverse() });
  sink.change(host, address, 'network', 'update', summary(want), reasons);
}
