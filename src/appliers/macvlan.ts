// The macvlan driver: each endpoint a macvlan sub-interface of the network's parent, made
// directly in the sandbox in the network's mode (bridge, private, vepa, passthru). The parent
// is the host's and is never made, changed or deleted; a missing parent is a plan error.
// Changing mode or parent replaces the endpoint.
import type { FromSchema } from 'json-schema-to-ts';
import { kernelNameProblem } from '../model/names.js';
import type { Rule } from '../model/rules.js';
import { commonNetwork, IFNAME } from '../model/schema-parts.js';
import { pathToPointer } from '../model/source.js';
import type { Network } from '../model/types.js';
import { endpointBase, type EndpointSpec, type Spec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import { cmd, linkRef, sandboxOf } from './common.js';
import { defineDriver } from './driver.js';
import { endpointApplier, innerLines, innerLink, observedBase, type EndpointKind, type Found, type ObservedSpec } from './endpoint.js';
import type { PlanContext } from './types.js';

const MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export type MacvlanMode = (typeof MODES)[number];

const schema = {
  title: 'macvlan network',
  type: 'object',
  additionalProperties: false,
  required: ['driver'],
  properties: {
    driver: { const: 'macvlan', description: 'Sub-interfaces of a parent interface, each with its own MAC address.' },
    ...commonNetwork,
    parent: {
      description: 'The host interface the sub-interfaces hang off (never changed by tsnet).',
      type: 'string',
      pattern: IFNAME,
    },
    mode: {
      description: 'macvlan mode. Default: bridge.',
      enum: MODES,
    },
  },
} as const;

type Raw = FromSchema<typeof schema>;

export interface MacvlanNetwork extends Network {
  driver: 'macvlan';
  parent: string;
  mode: MacvlanMode;
}

export interface MacvlanSpec extends EndpointSpec {
  type: 'macvlan';
  parent: string;
  mode: MacvlanMode;
}

const isMacvlan = (s: Spec | undefined): s is MacvlanSpec => s?.kind === 'endpoint' && s.type === 'macvlan';

// ---------------------------------------------------------------- rules

/** The macvlan networks of the file, with what they say. */
const macvlans = (p: Parameters<Rule>[0]) => [...p.networks.values()].filter((n) => n.raw.driver === 'macvlan').map((n) => ({ ...n, raw: n.raw as Raw }));

export const macvlanParent: Rule = (p, r) => {
  for (const net of macvlans(p)) {
    if (net.raw.parent === undefined)
      r.error('macvlan-no-parent', `macvlan network "${net.name}" needs a parent: the host interface its sub-interfaces hang off`, net.path, {
        resource: `network.${net.name}`,
        key: true,
        hint: 'add e.g. "parent: eth0"',
      });
  }
};

export const macvlanPassthru: Rule = (p, r) => {
  for (const net of macvlans(p)) {
    if (net.raw.mode !== 'passthru') continue;
    const eps = [...p.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.raw.network === net.name));
    for (const ep of eps.slice(1))
      r.error('passthru-one-endpoint', `macvlan network "${net.name}" is in passthru mode, which gives the parent to one endpoint only; ${eps[0]!.address} has it`, [...ep.path, 'network'], { resource: ep.address });
    // In passthru mode the kernel passes a MAC change on to the parent: the host's NIC.
    for (const ep of eps.filter((e) => e.raw.mac !== undefined))
      r.error('passthru-mac', `${ep.address} cannot set a mac: macvlan network "${net.name}" is in passthru mode, where the kernel would change the MAC address of the parent "${net.raw.parent ?? '?'}" (a host interface tsnet does not own)`, [...ep.path, 'mac'], { resource: ep.address });
  }
};

/** A parent name the kernel would refuse (the schema's pattern cannot say all of it). */
const parentName: Rule = (p, r) => {
  for (const net of macvlans(p)) {
    const path = [...net.path, 'parent'];
    if (net.raw.parent === undefined || p.broken.paths.has(pathToPointer(path))) continue; // the schema said it already
    const problem = kernelNameProblem(net.raw.parent);
    if (problem) r.error('kernel-name', `parent "${net.raw.parent}" ${problem}`, path, { resource: `network.${net.name}` });
  }
};

// ---------------------------------------------------------------- endpoints

const summary = (s: ObservedSpec<MacvlanSpec>) => `macvlan ${s.mode} on ${s.parent} -> ${s.netns}/${s.ifname}${s.addresses.length ? ` ${s.addresses.join(' ')}` : ''}`;

function observe(ctx: PlanContext, address: string): Found<MacvlanSpec> {
  const inner = innerLink(ctx, address);
  if (!inner) return {};
  const parent = inner.link ?? ctx.view.state.root.links.find((l) => l.ifindex === inner.linkIndex)?.ifname ?? '?';
  const mode = (typeof inner.details?.mode === 'string' ? inner.details.mode : 'bridge') as MacvlanMode;
  return { found: { inner, spec: { ...observedBase(ctx, address, inner), type: 'macvlan', parent, mode } } };
}

/** The line that makes the sub-interface, in the sandbox, from the host's own stack. */
const addLine = (s: ObservedSpec<MacvlanSpec>) => ['link', 'add', 'link', s.parent, 'name', s.ifname, 'netns', s.netns, 'type', 'macvlan', 'mode', s.mode];

const linkOf = (ctx: PlanContext, s: ObservedSpec<MacvlanSpec>) => linkRef(ctx.host, s.netns, s.ifname, { linkKind: 'macvlan', mark: s.address });

/** Every command that builds the endpoint (the undo of its deletion). */
const buildCommands = (ctx: PlanContext, s: ObservedSpec<MacvlanSpec>) => [
  cmd(ctx.host, null, addLine(s), { creates: [linkOf(ctx, s)] }),
  ...innerLines(ctx, s).map((l) => cmd(ctx.host, s.netns, l)),
];

function remove(ctx: PlanContext, r: ResourcePlan, { found }: Found<MacvlanSpec>, action: 'delete' | 'replace'): void {
  const inner = found!.inner;
  r.step({
    phase: 'delete',
    ns: inner.ns,
    action,
    deletion: true,
    description: `delete macvlan ${inner.ifname}`,
    do: [['link', 'del', 'dev', inner.ifname]],
    deletes: [linkRef(ctx.host, inner.ns, inner.ifname, { linkKind: 'macvlan' })],
    undo: buildCommands(ctx, found!.spec),
    after: [{ rel: 'route-deletions-of', sandbox: sandboxOf(r.address) }],
  });
  if (action === 'delete') r.setChange('delete', summary(found!.spec), ['not in the topology any more']);
}

const kind: EndpointKind<MacvlanSpec> = {
  linkKind: 'macvlan',
  is: isMacvlan,
  recognizes: (ctx, address) => innerLink(ctx, address)?.kind === 'macvlan',
  observe,
  summary,
  replaceReason: (have, want) => (have.spec.parent !== want.parent ? `parent ${have.spec.parent} -> ${want.parent}` : have.spec.mode !== want.mode ? `mode ${have.spec.mode} -> ${want.mode}` : undefined),
  remove,
  check(ctx, r, s) {
    if (ctx.view.link(null, s.parent)) return true;
    r.error(`parent interface "${s.parent}" of the macvlan network does not exist on host "${ctx.host}"`);
    return false;
  },
  create(ctx, s) {
    const link = linkOf(ctx, s);
    return { description: `create macvlan ${s.netns}/${s.ifname} on ${s.parent}`, do: [addLine(s)], creates: [link], undo: [cmd(ctx.host, s.netns, ['link', 'del', 'dev', s.ifname], { deletes: [link] })] };
  },
};

export const macvlan = defineDriver({
  name: 'macvlan',
  schema,
  model: {
    scope: 'local',
    subnet: { pooled: false, why: ": it is the subnet of the parent's LAN" },
    gatewayIn: () => true,
    gatewayReserved: true,
    gatewayOnHost: false, // the LAN's router
    defaultRoute: true,
    withoutEndpoints: false,
    leafKeys: { parent: 'string', mode: 'any' },
    rules: [macvlanParent, macvlanPassthru, parentName],
    normalize: (base, raw): MacvlanNetwork => {
      const m = raw as Raw;
      return { ...base, driver: 'macvlan', parent: m.parent!, mode: m.mode ?? 'bridge', ...(m.mtu !== undefined ? { mtu: m.mtu } : {}) };
    },
  },
  expand: {
    network: () => [],
    endpoint: (_t, net, ep, at): MacvlanSpec => {
      const n = net as MacvlanNetwork;
      return { ...endpointBase(net, ep, at), type: 'macvlan', parent: n.parent, mode: n.mode };
    },
  },
  read: {
    linkDetails: { macvlan: (data): Record<string, string> => (typeof data.mode === 'string' ? { mode: data.mode } : {}) },
    fingerprint: (l) => (l.kind === 'macvlan' && typeof l.details?.mode === 'string' ? `macvlan=${l.details.mode}` : undefined),
  },
  endpoint: endpointApplier(kind),
  graph: {
    label: (net) => `macvlan ${(net as MacvlanNetwork).mode} on ${(net as MacvlanNetwork).parent}`,
    showsGateway: true,
  },
});
