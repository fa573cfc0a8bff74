// The bridge driver: a Linux bridge on the host holding the gateway addresses (the host is the
// network's router, as with docker0), marked, with its mtu, up; each endpoint a veth pair with
// its host end on the bridge (veth.ts). With `nat: true`, the network's traffic is masqueraded
// (nat.ts plans the rules this driver asks for).
import type { FromSchema } from 'json-schema-to-ts';
import { formatCidr, overlaps, parseCidr } from '../model/addresses.js';
import { bridgeName, hostVethName, kernelNameProblem, stableHash } from '../model/names.js';
import type { Rule } from '../model/rules.js';
import { commonNetwork, IFNAME } from '../model/schema-parts.js';
import { pathToPointer } from '../model/source.js';
import type { Network } from '../model/types.js';
import { endpointBase, type NetworkSpec, type Spec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command } from '../planner/types.js';
import { natChainName, natTableName } from '../state/nft.js';
import { parseMark } from '../state/ownership.js';
import type { KLink } from '../state/types.js';
import { addrAdd, cmd, diffAddresses, ipv6On, linkRef, managedAddresses, mark } from './common.js';
import { defineDriver, type LinkApplier } from './driver.js';
import type { PlanContext } from './types.js';
import { vethEndpoint, vethOtherEnd, type VethSpec } from './veth.js';

const DEFAULT_MTU = 1500;

const schema = {
  title: 'bridge network',
  type: 'object',
  additionalProperties: false,
  required: ['driver'],
  properties: {
    driver: { const: 'bridge', description: 'A Linux bridge on the host with the gateway address; endpoints are veth pairs.' },
    ...commonNetwork,
    bridge: {
      description: 'Kernel name of the bridge. Default: "tsn-<network>", shortened with a hash to 15 bytes.',
      type: 'string',
      pattern: IFNAME,
    },
    nat: {
      description:
        'Masquerade traffic from the subnet that leaves through any other interface (Docker\'s ip-masquerade), with a rule in an nftables table of tsnet\'s own ("inet tsnet-<topology>"). Needs nft on the host, and forwarding on (net.ipv4.ip_forward=1), which tsnet does not change. Default: false.',
      type: 'boolean',
    },
    internal: {
      description:
        'true: sandboxes reach each other and the gateway, nothing beyond: the host forwards nothing into or out of the network (rules in tsnet\'s nftables table). Default: false.',
      type: 'boolean',
    },
  },
} as const;

type Raw = FromSchema<typeof schema>;

export interface BridgeNetwork extends Network {
  driver: 'bridge';
  /** Kernel name of the bridge. */
  bridge: string;
  /** Masquerade what leaves the subnet through another interface (nftables, tsnet's own table). */
  nat: boolean;
  /** Nothing forwarded into or out of it (`internal: true`; rules in tsnet's table, src/appliers/firewall.ts). */
  internal?: boolean;
}

/** A bridge network's kernel objects on a host: the bridge. */
export interface BridgeSpec extends NetworkSpec {
  driver: 'bridge';
  ifname: string;
  mtu: number;
  /** Gateway addresses with prefix, e.g. "198.18.0.1/24". */
  addresses: string[];
  /** False: the network has no IPv6, so the bridge gets no IPv6 address at all. */
  ipv6: boolean;
}

const isBridge = (s: Spec | undefined): s is BridgeSpec => s?.kind === 'network' && s.driver === 'bridge';

/** A bridge name the kernel would refuse (the schema's pattern cannot say all of it). */
const bridgeNameRule: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    if (net.raw.driver !== 'bridge') continue;
    const given = (net.raw as Raw).bridge;
    const path = [...net.path, 'bridge'];
    if (given === undefined || p.broken.paths.has(pathToPointer(path))) continue; // the schema said it already
    const problem = kernelNameProblem(given);
    if (problem) r.error('kernel-name', `bridge name "${given}" ${problem}`, path, { resource: `network.${net.name}` });
  }
};

/** NAT masquerades through the host, which an L2-only bridge (gateway: none) keeps out of the subnet. */
const natNeedsGateway: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    const raw = net.raw as Raw & { driver: string };
    if (raw.driver !== 'bridge' || raw.gateway !== 'none' || raw.nat !== true) continue;
    r.error('nat-without-gateway', `bridge network "${net.name}" has no gateway ("gateway: none"), so the host takes no part in its subnet and cannot masquerade it`, [...net.path, 'nat'], {
      resource: `network.${net.name}`,
      hint: 'drop "nat: true", or give the network its gateway back; a router sandbox can masquerade instead',
    });
  }
};

/** An internal network has no way out, so there is nothing to masquerade. */
const natNotInternal: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    const raw = net.raw as Raw & { driver: string };
    if (raw.driver !== 'bridge' || raw.internal !== true || raw.nat !== true) continue;
    r.error('nat-internal', `bridge network "${net.name}" is internal: nothing leaves it, so there is nothing to masquerade`, [...net.path, 'nat'], {
      resource: `network.${net.name}`,
      hint: 'drop "nat: true" or "internal: true"',
    });
  }
};

/**
 * The bridge's MAC address: fixed, from the topology and the network (locally administered,
 * unicast). A bridge whose address the kernel picks takes the lowest of its ports' and changes
 * it when a port with a lower one joins: every sandbox's neighbour entry for the gateway is then
 * wrong until it is probed again, seconds without the gateway after adding a sandbox. Docker sets
 * its bridges' addresses for the same reason.
 */
export function bridgeMac(topology: string, address: string): string {
  const h = stableHash([topology, address], 10);
  return ['02', ...h.match(/../g)!].join(':');
}

/**
 * Creating a bridge. IPv6 is turned off (addrgenmode none) on a line of its own before the link
 * comes up: in one `link set` the kernel brings the link up first, and the link-local address
 * would already be there.
 */
function bridgeCreateLines(ctx: PlanContext, spec: BridgeSpec): string[][] {
  return [
    ['link', 'add', 'name', spec.ifname, 'address', bridgeMac(ctx.topology, spec.address), 'type', 'bridge'],
    ...(spec.ipv6 ? [] : [['link', 'set', 'dev', spec.ifname, 'addrgenmode', 'none']]),
    ['link', 'set', 'dev', spec.ifname, 'alias', mark(ctx, spec.address), 'mtu', String(spec.mtu), 'up'],
    ...spec.addresses.map((a) => addrAdd(a, spec.ifname)),
  ];
}

interface Observed {
  spec: BridgeSpec;
  link: KLink;
}

function observeBridge(ctx: PlanContext, address: string): Observed | undefined {
  const link = ctx.view.owned(address, null);
  if (!link || link.kind !== 'bridge') return undefined;
  const ipv6 = link.addrGenMode !== 'none';
  return {
    link,
    spec: { kind: 'network', driver: 'bridge', host: ctx.host, address, ifname: link.ifname, mtu: link.mtu, addresses: managedAddresses(link, { ipv6 }), ipv6 },
  };
}

const summary = (s: BridgeSpec) => `bridge ${s.ifname}${s.addresses.length ? ` ${s.addresses.join(' ')}` : ''}${s.mtu !== 1500 ? ` mtu ${s.mtu}` : ''}`;

/**
 * Routes of the host's own stack that a bridge's subnets would collide with: on links this
 * topology does not own (the host's LAN, a user's bridge, another topology's network). Putting
 * the gateway there would take over the host's addresses or routing, so the plan refuses.
 */
function hostRouteClashes(ctx: PlanContext, want: BridgeSpec): string[] {
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

function removeBridge(ctx: PlanContext, r: ResourcePlan, have: Observed, action: 'delete' | 'replace'): void {
  const foreign = ctx.view.foreignPorts(have.spec.ifname);
  if (foreign.length) {
    r.error(`cannot delete bridge "${have.spec.ifname}": interfaces tsnet does not own are attached to it: ${foreign.join(', ')}; detach them first`);
    return;
  }
  r.step({
    phase: 'delete',
    ns: null,
    action,
    deletion: true,
    description: `delete bridge ${have.spec.ifname}`,
    do: [['link', 'del', 'dev', have.spec.ifname]],
    deletes: [linkRef(ctx.host, null, have.spec.ifname, { linkKind: 'bridge', mark: r.address })],
    undo: bridgeCreateLines(ctx, have.spec).map((l, i) => cmd(ctx.host, null, l, i === 0 ? { creates: [linkRef(ctx.host, null, have.spec.ifname, { linkKind: 'bridge' })] } : {})),
    after: [{ rel: 'port-deletions' }],
  });
}

function createBridge(ctx: PlanContext, r: ResourcePlan, want: BridgeSpec, action: 'create' | 'replace', reasons: string[]): void {
  const { host, address } = r;
  const made = linkRef(host, null, want.ifname, { linkKind: 'bridge', mark: address });
  const holder = ctx.view.holder(null, want.ifname);
  // The README promises the way out: a kernel name of the network's own.
  const hint = `give network "${address.slice('network.'.length)}" a bridge name of its own with "bridge:" in the file`;
  if (holder) r.clash({ want: made, holder: linkRef(host, null, want.ifname), message: `cannot create bridge "${want.ifname}": the name is taken by ${holder}; ${hint}` });
  r.step({
    phase: 'create',
    ns: null,
    action,
    description: `create bridge ${want.ifname}`,
    do: bridgeCreateLines(ctx, want),
    creates: [made],
    undo: [cmd(host, null, ['link', 'del', 'dev', want.ifname], { deletes: [made] })],
    after: action === 'replace' ? [{ address, phase: 'delete' }] : [],
  });
  r.setChange(action, summary(want), reasons);
}

/** In place: mtu, IPv6 off, addresses, up. */
function updateBridge(ctx: PlanContext, r: ResourcePlan, want: BridgeSpec, have: Observed): void {
  const { host } = r;
  const reasons: string[] = [];
  const lines: string[][] = [];
  const undo: Command[] = [];
  const dev = want.ifname;
  if (have.spec.mtu !== want.mtu) {
    reasons.push(`mtu ${have.spec.mtu} -> ${want.mtu}`);
    lines.push(['link', 'set', 'dev', dev, 'mtu', String(want.mtu)]);
    undo.push(cmd(host, null, ['link', 'set', 'dev', dev, 'mtu', String(have.spec.mtu)]));
  }
  if (!want.ipv6 && ipv6On(have.link)) {
    reasons.push(`IPv6 is on (addrgenmode ${have.link.addrGenMode}), the network has none`);
    lines.push(['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
    undo.push(cmd(host, null, ['link', 'set', 'dev', dev, 'addrgenmode', have.link.addrGenMode ?? 'eui64']));
  }
  const addrs = diffAddresses(host, null, dev, want.addresses, managedAddresses(have.link, want));
  reasons.push(...addrs.reasons);
  lines.push(...addrs.lines);
  undo.push(...addrs.undo);
  if (!have.link.up) {
    reasons.push('link is down');
    lines.push(['link', 'set', 'dev', dev, 'up']);
    undo.push(cmd(host, null, ['link', 'set', 'dev', dev, 'down']));
  }
  if (!reasons.length) return;
  r.step({ phase: 'update', ns: null, action: 'update', description: `update bridge ${dev}`, do: lines, ...(addrs.removed.length ? { deletes: addrs.removed } : {}), undo: undo.reverse() });
  r.setChange('update', summary(want), reasons);
}

/** Our mark on something that is not a bridge: it is deleted and the bridge made. */
function replaceStray(ctx: PlanContext, r: ResourcePlan, want: BridgeSpec, stray: KLink): void {
  r.step({
    phase: 'delete',
    ns: null,
    action: 'replace',
    deletion: true,
    description: `delete ${stray.ifname}`,
    do: [['link', 'del', 'dev', stray.ifname]],
    deletes: [linkRef(ctx.host, null, stray.ifname, { mark: r.address })],
    undo: [],
  });
  createBridge(ctx, r, want, 'replace', [`${stray.ifname} is a ${stray.kind ?? 'plain link'}, not a bridge (forces replacement)`]);
}

function planBridge(ctx: PlanContext, r: ResourcePlan, want: BridgeSpec | undefined): void {
  const have = observeBridge(ctx, r.address);
  if (have) r.have = have.spec;
  if (want) {
    const clashes = hostRouteClashes(ctx, want);
    if (clashes.length) {
      const subnets = want.addresses.map((a) => formatCidr(parseCidr(a, false)!)).join(' and ');
      r.error(`the subnet ${subnets} overlaps the host's own route${clashes.length === 1 ? '' : 's'} to ${clashes.join('; ')}: the gateway on bridge "${want.ifname}" would take over the host's routing there; pick another subnet`);
      return;
    }
  }
  if (!want && have) {
    removeBridge(ctx, r, have, 'delete');
    r.setChange('delete', summary(have.spec), ['not in the topology any more']);
    return;
  }
  if (want && !have) {
    const stray = ctx.view.owned(r.address, null);
    return stray ? replaceStray(ctx, r, want, stray) : createBridge(ctx, r, want, 'create', []);
  }
  if (!want || !have) return;
  if (have.spec.ifname !== want.ifname) {
    removeBridge(ctx, r, have, 'replace');
    return createBridge(ctx, r, want, 'replace', [`name ${have.spec.ifname} -> ${want.ifname} (forces replacement)`]);
  }
  updateBridge(ctx, r, want, have);
}

const network: LinkApplier = {
  linkKind: 'bridge',
  // Its bridge, and no other part (an overlay's bridge comes with its VXLAN device).
  recognizes: (ctx, address) => ctx.view.owned(address, null) !== undefined && ctx.view.ownedParts(address).every((part) => part === address),
  plan: (ctx, r, want) => planBridge(ctx, r, isBridge(want) ? want : undefined),
  remove(ctx, r) {
    const have = observeBridge(ctx, r.address);
    if (!have) return;
    r.have = have.spec;
    removeBridge(ctx, r, have, 'replace');
  },
  replace: (ctx, r, want, reason) => createBridge(ctx, r, want as BridgeSpec, 'replace', [`${reason} (forces replacement)`]),
};

export const bridge = defineDriver({
  name: 'bridge',
  schema,
  model: {
    scope: 'local',
    subnet: { pooled: true },
    // gateway: none: an L2-only switch, every address the endpoints'.
    gatewayIn: (raw) => (raw as Raw).gateway !== 'none',
    gatewayReserved: true,
    gatewayOnHost: true,
    defaultRoute: true,
    withoutEndpoints: true,
    leafKeys: { bridge: 'string' },
    bridge: (name, raw) => ({ name: (raw as Raw).bridge ?? bridgeName(name), given: (raw as Raw).bridge !== undefined }),
    rules: [bridgeNameRule, natNeedsGateway, natNotInternal],
    normalize: (base, raw, prepared): BridgeNetwork => ({ ...base, driver: 'bridge', bridge: prepared.bridge!, mtu: (raw as Raw).mtu ?? DEFAULT_MTU, nat: (raw as Raw).nat ?? false, ...((raw as Raw).internal ? { internal: true } : {}) }),
    endpoint: (topology, sandbox, ifname) => ({ hostIfname: hostVethName(topology, sandbox, ifname) }),
  },
  expand: {
    network(t, net) {
      const n = net as BridgeNetwork;
      const ipv6 = n.subnets.some((s) => s.family === 6);
      return n.hosts.flatMap((host): Spec[] => {
        const addresses = n.gatewayless ? [] : n.subnets.map((s) => `${s.gateway}/${s.prefixLength}`);
        const spec: BridgeSpec = { kind: 'network', driver: 'bridge', host, address: `network.${n.name}`, ifname: n.bridge, mtu: n.mtu ?? DEFAULT_MTU, addresses, ipv6 };
        if (!n.nat) return [spec];
        return [spec, { kind: 'nat', host, address: `nat.${n.name}`, table: natTableName(t.name), chain: natChainName(n.name), rules: n.subnets.map((s) => ({ family: s.family, subnet: s.cidr, notOut: n.bridge })) }];
      });
    },
    endpoint: (t, net, ep, at): VethSpec => ({
      ...endpointBase(net, ep, at),
      type: 'veth',
      hostIfname: ep.hostIfname!,
      master: (net as BridgeNetwork).bridge,
      ...(net.mtu !== undefined ? { hostMtu: net.mtu } : {}),
      // Where the sandbox's ports are published from: it reaches them through the host too.
      ...(t.firewall?.ports.some((p) => p.sandbox === ep.sandbox && p.network === net.name) ? { hairpin: true } : {}),
    }),
  },
  read: {
    // NAT: whether the hosts forward (a plan note when they do not; tsnet does not change it).
    hostSysctls: (net) => ((net as BridgeNetwork).nat ? net.subnets.map((s) => (s.family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding')) : []),
  },
  network,
  endpoint: vethEndpoint,
  otherEnd: vethOtherEnd,
  graph: {
    label: (net) => `bridge ${(net as BridgeNetwork).bridge}${net.gatewayless ? ', L2 only (no gateway)' : ''}${(net as BridgeNetwork).nat ? ', NAT' : ''}${(net as BridgeNetwork).internal ? ', internal' : ''}`,
    showsGateway: true,
  },
});
