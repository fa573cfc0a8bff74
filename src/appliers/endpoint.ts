// Endpoints: the interface that joins a sandbox to a network. A veth pair for bridge and
// overlay networks (host end on the bridge, inner end in the sandbox), or a macvlan
// sub-interface of the network's parent created directly in the sandbox.
import type { EndpointSpec, MacvlanSpec } from '../planner/desired.js';
import type { Command } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { PEER_SUFFIX, addrAdd, cmd, diffAddresses, linkRef, managedAddresses, mark, type Context } from './common.js';
import type { ObjectRef, StepRef } from '../planner/types.js';

/**
 * Configuration of the inner end, in the sandbox's namespace: IPv6 off (before the link is up,
 * or the link-local address is already made), mark, mac, mtu, up, addresses.
 */
function innerLines(ctx: Context, s: EndpointSpec): string[][] {
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
function outerLines(ctx: Context, s: EndpointSpec): string[][] {
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
function endpointLinks(ctx: Context, s: EndpointSpec, withMarks = true): ObjectRef[] {
  const m = (a: string) => (withMarks ? { mark: a } : {});
  const inner = linkRef(ctx.host, s.netns, s.ifname, { linkKind: s.type, ...m(s.address) });
  return s.type === 'veth' ? [linkRef(ctx.host, null, s.hostIfname, { linkKind: 'veth', ...m(s.address + PEER_SUFFIX) }), inner] : [inner];
}

/** Every command that builds the endpoint (the undo of its deletion). */
export function endpointCreateCommands(ctx: Context, s: EndpointSpec): Command[] {
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
export function observeEndpoint(ctx: Context, address: string): { found?: Observed; broken?: string } {
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

export function planEndpoint(ctx: Context, address: string, want: EndpointSpec | undefined): void {
  const { host, sink } = ctx;
  const { found: have, broken } = observeEndpoint(ctx, address);
  const sandboxAddress = `sandbox.${address.split('.')[1]}`;

  /** Deletes what exists; returns false when the namespace's deletion takes it along. */
  const remove = (action: 'delete' | 'replace'): void => {
    const dying = have ? ctx.dyingNs.get(have.spec.netns) : undefined;
    // The kernel removes the veths of a deleted namespace only later (asynchronously), and the
    // replacement makes a host end of the same name: then the pair is deleted first, itself.
    // So it is when processes are in the namespace: it outlives its name, with the veth.
    const held = have ? (ctx.view.namespace(have.spec.netns)?.inUse?.length ?? 0) > 0 : false;
    const beforeNs = dying !== undefined && ((action === 'replace' && have?.outer !== undefined) || held);
    if (have && dying && !beforeNs) {
      // Deleting the namespace deletes the endpoint (both veth ends); its undo must rebuild it.
      if (!broken) sink.extendUndo(dying, endpointCreateCommands(ctx, have.spec));
      if (have.outer) ctx.dyingLinks.set(`/${have.outer.ifname}`, dying);
      return;
    }
    const outer = have?.outer ?? ctx.view.owned(address + PEER_SUFFIX, null);
    const [ns, dev] = outer ? [null, outer.ifname] : [have!.inner.ns, have!.inner.ifname];
    const ref: StepRef = { host, address, phase: 'delete' };
    if (have) ctx.dyingLinks.set(`${have.spec.netns}/${have.spec.ifname}`, ref);
    const deletes = [linkRef(host, ns, dev, { linkKind: outer?.kind ?? have!.inner.kind ?? undefined }), ...(outer && have ? [linkRef(host, have.inner.ns, have.inner.ifname)] : [])];
    sink.step(host, address, {
      phase: 'delete',
      ns,
      action,
      deletion: true,
      description: `delete ${have?.spec.type ?? 'veth'} ${dev}`,
      do: [['link', 'del', dev]],
      deletes,
      undo: have && !broken ? endpointCreateCommands(ctx, have.spec) : [],
      after: [{ rel: 'route-deletions-of', sandbox: address.split('.')[1]! }],
    });
    if (beforeNs) sink.addAfter(dying, ref);
  };

  const create = (action: 'create' | 'replace', reasons: string[]) => {
    const s = want!;
    const nsNew = ctx.newNs.get(s.netns);
    if (s.type === 'veth') {
      const holder = ctx.view.holder(null, s.hostIfname);
      // Our own host end that lost its peer (the namespace went) is deleted by this plan first.
      const stale = broken ? ctx.view.owned(address + PEER_SUFFIX, null)?.ifname : undefined;
      if (holder && !(have?.outer?.ifname === s.hostIfname) && stale !== s.hostIfname) return sink.error(host, address, `cannot create veth "${s.hostIfname}": the name is taken by ${holder}`);
      if (!ctx.desired.has(`network.${networkOf(ctx, s)}`) && !ctx.view.link(null, s.master))
        return sink.error(host, address, `bridge "${s.master}" does not exist`);
    } else {
      const parent = ctx.view.link(null, s.parent);
      if (!parent) return sink.error(host, address, `parent interface "${s.parent}" of the macvlan network does not exist on host "${host}"`);
    }
    if (!nsNew) {
      const holder = ctx.view.holder(s.netns, s.ifname);
      if (holder && !(have && have.spec.netns === s.netns && have.spec.ifname === s.ifname))
        return sink.error(host, address, `cannot create "${s.ifname}" in namespace "${s.netns}": the name is taken by ${holder}`);
    }
    sink.step(host, address, {
      phase: 'create',
      ns: null,
      action,
      description: s.type === 'veth' ? `create veth ${s.hostIfname} <-> ${s.netns}/${s.ifname}` : `create macvlan ${s.netns}/${s.ifname} on ${s.parent}`,
      do: outerLines(ctx, s),
      creates: endpointLinks(ctx, s),
      undo: [
        s.type === 'veth'
          ? cmd(host, null, ['link', 'del', s.hostIfname], { deletes: endpointLinks(ctx, s) })
          : cmd(host, s.netns, ['link', 'del', s.ifname], { deletes: endpointLinks(ctx, s) }),
      ],
      after: [
        { address: sandboxAddress, phase: 'create' },
        { address: `network.${networkOf(ctx, s)}`, phase: 'create' },
        ...(have || broken ? [{ address, phase: 'delete' }] : []),
      ],
    });
    sink.step(host, address, {
      phase: 'config',
      ns: s.netns,
      action,
      description: `configure ${s.netns}/${s.ifname}`,
      do: innerLines(ctx, s),
      undo: [],
      after: [{ address, phase: 'create' }],
    });
    sink.change(host, address, 'endpoint', action, summary(s), reasons);
  };

  if (!want && (have || broken)) {
    remove('delete');
    const stale = ctx.view.owned(address + PEER_SUFFIX, null);
    const what = have ? summary(have.spec) : stale ? `veth ${stale.ifname}${stale.master ? ` on ${stale.master}` : ''} (${broken})` : address;
    sink.change(host, address, 'endpoint', 'delete', what, ['not in the topology any more']);
    return;
  }
  if (want && !have && !broken) return create('create', []);
  if (!want) return;
  if (broken) {
    remove('replace');
    return create('replace', [`${broken} (forces replacement)`]);
  }
  if (!have) return;
  const why = replaceReason(have, want);
  if (why || ctx.dyingNs.has(have.spec.netns)) {
    remove('replace');
    return create('replace', [`${why ?? `namespace ${have.spec.netns} is replaced`} (forces replacement)`]);
  }

  // In place.
  const reasons: string[] = [];
  const outerDo: string[][] = [];
  const outerUndo: Command[] = [];
  const innerDo: string[][] = [];
  const innerUndo: Command[] = [];
  const h = have.spec;
  const dev = want.ifname;
  const ns = want.netns;
  if (want.type === 'veth' && h.type === 'veth' && have.outer) {
    const o = have.outer;
    // A bridge this plan deletes and makes again under the same name takes its ports off it.
    const remade = o.master === want.master && ctx.dyingLinks.has(`/${o.master}`);
    if (o.master !== want.master || remade) {
      reasons.push(
        remade ? `host end goes back on ${want.master} when the bridge is made again` : o.master ? `host end is on ${o.master}, not ${want.master}` : `host end is not on bridge ${want.master}`,
      );
      outerDo.push(['link', 'set', o.ifname, 'master', want.master]);
      // When this plan deletes the old bridge, that deletion takes the port off it first, and
      // its undo puts the port back on the rebuilt bridge.
      const bridgeDeletion = o.master ? ctx.dyingLinks.get(`/${o.master}`) : undefined;
      if (bridgeDeletion) sink.extendUndo(bridgeDeletion, [cmd(host, null, ['link', 'set', o.ifname, 'master', o.master!])]);
      outerUndo.push(cmd(host, null, o.master && !bridgeDeletion ? ['link', 'set', o.ifname, 'master', o.master] : ['link', 'set', o.ifname, 'nomaster']));
    }
    const hostMtu = want.hostMtu ?? want.mtu;
    if (hostMtu !== undefined && o.mtu !== hostMtu) {
      outerDo.push(['link', 'set', o.ifname, 'mtu', String(hostMtu)]);
      outerUndo.push(cmd(host, null, ['link', 'set', o.ifname, 'mtu', String(o.mtu)]));
      // One reason when both ends go to the same mtu ("mtu A -> B", below).
      if (!(have.inner.mtu !== want.mtu && hostMtu === want.mtu)) reasons.push(`host end mtu ${o.mtu} -> ${hostMtu}`);
    }
    if (!want.ipv6 && o.addrGenMode !== 'none') {
      reasons.push(`IPv6 is on at host end ${o.ifname}, the network has none`);
      outerDo.push(['link', 'set', o.ifname, 'addrgenmode', 'none']);
      outerDo.push(...managedAddresses(o, false).map((a) => ['addr', 'del', a, 'dev', o.ifname]));
      outerUndo.push(cmd(host, null, ['link', 'set', o.ifname, 'addrgenmode', o.addrGenMode ?? 'eui64']));
    }
    if (!o.up) {
      reasons.push(`host end ${o.ifname} is down`);
      outerDo.push(['link', 'set', o.ifname, 'up']);
      outerUndo.push(cmd(host, null, ['link', 'set', o.ifname, 'down']));
    }
  }
  if (want.mtu !== undefined && h.mtu !== want.mtu) {
    reasons.push(`mtu ${h.mtu} -> ${want.mtu}`);
    innerDo.push(['link', 'set', dev, 'mtu', String(want.mtu)]);
    innerUndo.push(cmd(host, ns, ['link', 'set', dev, 'mtu', String(h.mtu)]));
  }
  if (want.mac && h.mac !== want.mac) {
    reasons.push(`mac ${h.mac} -> ${want.mac}`);
    innerDo.push(['link', 'set', dev, 'address', want.mac]);
    innerUndo.push(cmd(host, ns, ['link', 'set', dev, 'address', h.mac!]));
  }
  if (!want.ipv6 && h.ipv6) {
    reasons.push(`IPv6 is on (addrgenmode ${have.inner.addrGenMode}), the network has none`);
    innerDo.push(['link', 'set', dev, 'addrgenmode', 'none']);
    innerUndo.push(cmd(host, ns, ['link', 'set', dev, 'addrgenmode', have.inner.addrGenMode ?? 'eui64']));
  }
  const haveAddresses = managedAddresses(have.inner, want.ipv6);
  const addrs = diffAddresses(host, ns, dev, want.addresses, haveAddresses);
  reasons.push(...addrs.reasons);
  innerDo.push(...addrs.lines);
  innerUndo.push(...addrs.undo);
  // Old addresses go before new ones come: when every IPv4 address goes, the kernel drops the
  // link's IPv4 routes on the way (route.ts adds them again).
  const ipv4 = have.inner.addresses.filter((a) => a.family === 4);
  if (ipv4.length && ipv4.every((a) => haveAddresses.includes(a.cidr) && !want.addresses.includes(a.cidr))) ctx.flushedLinks.set(`${ns}/${dev}`, { host, address, phase: 'update' });
  if (!have.inner.up) {
    reasons.push('link is down');
    innerDo.push(['link', 'set', dev, 'up']);
    innerUndo.push(cmd(host, ns, ['link', 'set', dev, 'down']));
  }
  if (!reasons.length && !outerDo.length && !innerDo.length) return;
  if (outerDo.length)
    sink.step(host, address, {
      phase: 'update-host',
      ns: null,
      action: 'update',
      description: `update host end of ${address}`,
      do: outerDo,
      undo: outerUndo.reverse(),
      // The bridge it moves to may be made by this plan.
      after: [{ address: `network.${networkOf(ctx, want)}`, phase: 'create' }],
    });
  if (innerDo.length)
    sink.step(host, address, { phase: 'update', ns, action: 'update', description: `update ${ns}/${dev}`, do: innerDo, undo: innerUndo.reverse() });
  sink.change(host, address, 'endpoint', 'update', summary(want), reasons);
}

/** The network an endpoint belongs to, from the desired specs of the host. */
function networkOf(ctx: Context, s: EndpointSpec): string {
  if (s.type === 'veth') {
    for (const spec of ctx.desired.values()) {
      if (spec.kind === 'network' && (spec.type === 'bridge' ? spec.ifname : spec.bridge) === s.master) return spec.address.slice('network.'.length);
    }
  }
  return '';
}
