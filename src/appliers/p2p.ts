// The point-to-point driver: a network of exactly two endpoints, in two sandboxes on one host,
// joined by one veth pair made straight from one namespace to the other. No bridge, nothing in
// the host's own stack, no gateway: a /31 or /127 serves (both addresses are the ends').
//
// The pair is one kernel object shared by two resources. Each end is marked with its own
// endpoint's address and, as the mark's part, its peer's ("endpoint.r1.eth1/p2p:endpoint.r2.eth0"):
// the kernel tells neither end's namespace of the other in a way tsnet can map back, and the
// mark keeps the ends apart from a veth-on-bridge's inner end. The end with the lower address
// (the pair's leader) makes and deletes the pair; the other end only configures its interface.
// Whatever remakes one end remakes the pair, so both ends are replaced together.
import type { FromSchema } from 'json-schema-to-ts';
import type { Rule } from '../model/rules.js';
import { commonNetwork } from '../model/schema-parts.js';
import type { Network } from '../model/types.js';
import { endpointBase, type EndpointSpec, type Spec } from '../planner/desired.js';
import type { Dep, ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import type { KLink } from '../state/types.js';
import { cmd, linkRef, sandboxOf } from './common.js';
import { defineDriver } from './driver.js';
import { endpointApplier, innerLines, observedBase, type EndpointKind, type Found, type ObservedSpec } from './endpoint.js';
import type { PlanContext } from './types.js';

const schema = {
  title: 'point-to-point network',
  type: 'object',
  additionalProperties: false,
  required: ['driver'],
  properties: {
    driver: { const: 'p2p', description: 'A veth pair straight from one sandbox to another: exactly two endpoints, no bridge, no gateway, nothing on the host.' },
    ...commonNetwork,
  },
} as const;

type Raw = FromSchema<typeof schema>;

export interface P2pNetwork extends Network {
  driver: 'p2p';
}

export interface P2pSpec extends EndpointSpec {
  type: 'p2p';
  /** The other end's endpoint address. */
  peer: string;
  /** The other end's namespace and interface name (empty when observed without its peer). */
  peerNetns: string;
  peerIfname: string;
}

const isP2p = (s: Spec | undefined): s is P2pSpec => s?.kind === 'endpoint' && s.type === 'p2p';

/** The part of a p2p end's mark that names its peer. */
const PART = '/p2p:';
const markOf = (s: { address: string; peer: string }) => `${s.address}${PART}${s.peer}`;
/** The pair's leader makes and deletes it: the end with the lower address. */
const leads = (address: string, peer: string) => address < peer;

// ---------------------------------------------------------------- rules

const p2pNetworks = (p: Parameters<Rule>[0]) => [...p.networks.values()].filter((n) => n.raw.driver === 'p2p');

/** The namespace a sandbox's endpoints live in (a container: sandbox shares its target's). */
function netnsOf(p: Parameters<Rule>[0], sandbox: string): string {
  const sb = p.sandboxes.get(sandbox);
  if (!sb) return sandbox;
  return sb.mode.kind === 'container' ? netnsOf(p, sb.mode.target) : (sb.netns ?? sandbox);
}

/** A gateway means nothing on a link between two ends. */
const p2pNoGateway: Rule = (p, r) => {
  for (const net of p2pNetworks(p)) {
    if ((net.raw as Raw).gateway === undefined) continue;
    r.error('p2p-gateway', `p2p network "${net.name}" has no gateway: its two ends are each other's next hop`, [...net.path, 'gateway'], {
      resource: `network.${net.name}`,
      key: true,
      hint: 'remove "gateway:"; give a sandbox a route via the other end\'s address with "routes:"',
    });
  }
};

/**
 * Exactly two endpoints, in two namespaces. (One host: the general rule for local networks says
 * so, pointing at an overlay; one sandbox twice is the general duplicate-join error.)
 */
/**
 * One interface, one qdisc: an end's `ingress:` shapes the other end's interface, which that end's
 * own shaping (or the network's, its default) shapes too. Either is fine; both are refused.
 */
export const p2pShapingOnce: Rule = (p, r) => {
  type Shaping = Record<string, unknown> & { ingress?: unknown };
  const asShaping = (v: unknown): Shaping | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Shaping) : undefined);
  for (const net of p2pNetworks(p)) {
    const eps = [...p.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.raw.network === net.name));
    if (eps.length !== 2) continue;
    const netShaping = asShaping((net.raw as { shaping?: unknown }).shaping);
    const effective = (ep: (typeof eps)[number]) => {
      const own = asShaping(ep.raw.shaping);
      return own ? { shaping: own, path: [...ep.path, 'shaping'] } : netShaping ? { shaping: netShaping, path: [...net.path, 'shaping'] } : undefined;
    };
    for (const [a, b] of [[eps[0]!, eps[1]!], [eps[1]!, eps[0]!]] as const) {
      const ea = effective(a);
      const eb = effective(b);
      if (!ea?.shaping.ingress || !eb || !Object.keys(eb.shaping).some((k) => k !== 'ingress')) continue;
      r.error(
        'p2p-shaping-twice',
        `${a.address}'s ingress shapes ${b.address}'s interface, which ${b.address}'s own shaping shapes too: on a p2p link one end's ingress is the other end's egress`,
        [...ea.path, 'ingress'],
        { resource: a.address, key: true, hint: `write it once: as ${b.address}'s shaping, or as ${a.address}'s ingress` },
      );
    }
  }
};

export const p2pEnds: Rule = (p, r) => {
  for (const net of p2pNetworks(p)) {
    const res = `network.${net.name}`;
    const eps = [...p.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.raw.network === net.name));
    if (eps.length < 2) {
      r.error('p2p-two-endpoints', `p2p network "${net.name}" joins exactly two endpoints; it has ${eps.length}`, net.path, { resource: res, key: true, hint: 'give it an endpoint in each of two sandboxes' });
      continue;
    }
    for (const ep of eps.slice(2))
      r.error('p2p-two-endpoints', `p2p network "${net.name}" joins exactly two endpoints: ${eps[0]!.address} and ${eps[1]!.address} have it`, [...ep.path, 'network'], { resource: ep.address });
    const [a, b] = eps as [(typeof eps)[number], (typeof eps)[number]];
    if (a.sandbox === b.sandbox) continue;
    if (netnsOf(p, a.sandbox) === netnsOf(p, b.sandbox))
      r.error('p2p-one-sandbox', `both ends of p2p network "${net.name}" are in one namespace (${a.address} and ${b.address}); a point-to-point link joins two`, [...b.path, 'network'], { resource: b.address });
  }
};

// ---------------------------------------------------------------- endpoints

const summary = (s: ObservedSpec<P2pSpec>) => `p2p ${s.netns}/${s.ifname} <-> ${s.peerNetns}/${s.peerIfname}${s.addresses.length ? ` ${s.addresses.join(' ')}` : ''}`;

/** A p2p end of the resource, and the peer its mark names. */
function ownEnd(ctx: PlanContext, address: string): { link: KLink; peer: string } | undefined {
  for (const part of ctx.view.ownedParts(address)) {
    if (!part.startsWith(address + PART)) continue;
    const link = ctx.view.owned(part);
    if (link && link.ns !== null) return { link, peer: part.slice(address.length + PART.length) };
  }
  return undefined;
}

function observe(ctx: PlanContext, address: string): Found<P2pSpec> {
  const end = ownEnd(ctx, address);
  if (!end) return {};
  const other = ownEnd(ctx, end.peer);
  const base = { ...observedBase(ctx, address, end.link), type: 'p2p' as const, peer: end.peer };
  if (!other || other.peer !== address || other.link.kind !== 'veth' || end.link.kind !== 'veth')
    return { broken: `its peer ${end.peer} is missing or not its pair`, found: { inner: end.link, spec: { ...base, peerNetns: '', peerIfname: '' } } };
  return { found: { inner: end.link, spec: { ...base, peerNetns: other.link.ns!, peerIfname: other.link.ifname } } };
}

/** The line that makes the pair from the host's stack, each end straight in its namespace. */
const addLine = (s: ObservedSpec<P2pSpec>) => ['link', 'add', 'name', s.ifname, 'netns', s.netns, 'type', 'veth', 'peer', 'name', s.peerIfname, 'netns', s.peerNetns];

const pairLinks = (ctx: PlanContext, s: ObservedSpec<P2pSpec>): ObjectRef[] => [
  linkRef(ctx.host, s.netns, s.ifname, { linkKind: 'veth', mark: markOf(s) }),
  linkRef(ctx.host, s.peerNetns, s.peerIfname, { linkKind: 'veth', mark: markOf({ address: s.peer, peer: s.address }) }),
];

/**
 * Why the other end of the pair is made again, which takes this end along: it goes from the
 * file, or is wanted elsewhere or with another peer. Both ends ask, so both are replaced.
 */
function otherEndReason(ctx: PlanContext, address: string, peer: string): string | undefined {
  const want = ctx.desired.get(peer);
  const have = ownEnd(ctx, peer);
  if (!isP2p(want)) return `its peer ${peer} goes`;
  if (!have) return undefined; // this end's own observation says what is wrong
  if (want.peer !== address || have.peer !== address) return `its peer ${peer} is joined to another end`;
  if (have.link.ns !== want.netns || have.link.ifname !== want.ifname) return `its peer ${peer} moves to ${want.netns}/${want.ifname}`;
  return undefined;
}

/**
 * Deletes the pair: the leader of the pair as found deletes it (the peer's end goes with it);
 * the other end's resource only says so.
 */
function remove(ctx: PlanContext, r: ResourcePlan, { found }: Found<P2pSpec>, action: 'delete' | 'replace'): void {
  const inner = found!.inner;
  const s = found!.spec;
  const paired = s.peerNetns !== '';
  if (!paired || leads(r.address, s.peer)) {
    const peerSpec = paired ? peerObserved(ctx, s) : undefined;
    r.step({
      phase: 'delete',
      ns: inner.ns,
      action,
      deletion: true,
      description: `delete p2p pair ${inner.ns}/${inner.ifname}${paired ? ` <-> ${s.peerNetns}/${s.peerIfname}` : ''}`,
      do: [['link', 'del', 'dev', inner.ifname]],
      deletes: paired ? pairLinks(ctx, s) : [linkRef(ctx.host, inner.ns, inner.ifname, { linkKind: inner.kind })],
      undo: peerSpec ? buildCommands(ctx, s, peerSpec) : [],
      after: [{ rel: 'route-deletions-of', sandbox: sandboxOf(r.address) }, ...(paired ? [{ rel: 'route-deletions-of' as const, sandbox: sandboxOf(s.peer) }] : [])],
    });
  }
  if (action === 'delete') r.setChange('delete', summary(s), ['not in the topology any more']);
}

/** The peer end as found, for the undo of the pair's deletion. */
function peerObserved(ctx: PlanContext, s: ObservedSpec<P2pSpec>): ObservedSpec<P2pSpec> | undefined {
  return observe(ctx, s.peer).found?.spec;
}

/** Every command that builds the pair and both ends' configuration (the undo of its deletion). */
function buildCommands(ctx: PlanContext, s: ObservedSpec<P2pSpec>, peer: ObservedSpec<P2pSpec>): Command[] {
  return [
    cmd(ctx.host, null, addLine(s), { creates: pairLinks(ctx, s) }),
    ...innerLines(ctx, s, markOf(s)).map((l) => cmd(ctx.host, s.netns, l)),
    ...innerLines(ctx, peer, markOf(peer)).map((l) => cmd(ctx.host, peer.netns, l)),
  ];
}

function create(ctx: PlanContext, s: P2pSpec): ReturnType<EndpointKind<P2pSpec>['create']> {
  const description = `create p2p pair ${s.netns}/${s.ifname} <-> ${s.peerNetns}/${s.peerIfname}`;
  if (!leads(s.address, s.peer)) return { description, do: [], creates: [], undo: [], configAfter: [{ address: s.peer, phase: 'create' }] };
  const links = pairLinks(ctx, s);
  // Both namespaces must exist, and the old pair of either end be gone.
  const after: Dep[] = [{ address: `sandbox.${sandboxOf(s.peer)}`, phase: 'create' }, { address: s.peer, phase: 'delete' }];
  return { description, do: [addLine(s)], creates: links, undo: [cmd(ctx.host, s.netns, ['link', 'del', 'dev', s.ifname], { deletes: links })], after };
}

const kind: EndpointKind<P2pSpec> = {
  linkKind: 'p2p veth',
  is: isP2p,
  recognizes: (ctx, address) => ownEnd(ctx, address) !== undefined,
  observe,
  summary,
  replaceReason: (have, want, ctx) => (have.spec.peer !== want.peer ? `peer ${have.spec.peer} -> ${want.peer}` : otherEndReason(ctx, want.address, want.peer)),
  markOf,
  remove,
  check: () => true,
  create,
};

export const p2p = defineDriver({
  name: 'p2p',
  schema,
  model: {
    scope: 'local',
    subnet: { pooled: false, why: ': a /30, /31 or /127 (or larger) for its two ends' },
    gatewayIn: () => false,
    gatewayReserved: false,
    gatewayOnHost: false,
    defaultRoute: false,
    withoutEndpoints: false,
    leafKeys: {},
    rules: [p2pNoGateway, p2pEnds, p2pShapingOnce],
    normalize: (base, raw): P2pNetwork => ({ ...base, driver: 'p2p', ...((raw as Raw).mtu !== undefined ? { mtu: (raw as Raw).mtu! } : {}) }),
  },
  expand: {
    network: () => [],
    endpoint(t, net, ep, at): P2pSpec {
      const peers = [...t.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.network === net.name && e.address !== ep.address).map((e) => ({ e, sb })));
      const peer = peers[0];
      if (peers.length !== 1 || !peer?.sb.netns) throw new Error(`internal: p2p network "${net.name}" has ${peers.length + 1} endpoints`);
      return { ...endpointBase(net, ep, at), type: 'p2p', peer: peer.e.address, peerNetns: peer.sb.netns, peerIfname: peer.e.ifname };
    },
  },
  read: {},
  endpoint: endpointApplier(kind),
  // The end that receives what this one sends: its `ingress:` is shaped there (the peer's interface, by the peer's mark).
  otherEnd: (spec) => {
    const s = spec as P2pSpec;
    return { ns: s.peerNetns, ifname: s.peerIfname, mark: markOf({ address: s.peer, peer: s.address }) };
  },
  graph: {
    label: () => 'point-to-point',
    showsGateway: false,
    direct: true,
  },
});
