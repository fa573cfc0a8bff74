// Sandboxes: a named network namespace with lo up, marked on lo, and its sysctls.
import type { SandboxSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command } from '../planner/types.js';
import { parseMark } from '../state/ownership.js';
import type { KLink, KNamespace } from '../state/types.js';
import { cmd, mark, netnsRef } from './common.js';
import { perResource, type PlanContext } from './types.js';

const sandboxName = (address: string) => address.slice('sandbox.'.length);

const normalizeValue = (v: string | undefined) => v?.trim().replace(/\s+/g, ' ');

/** Devices the kernel itself puts in every new namespace when tunnel modules are loaded. */
const FALLBACK_TUNNELS = new Set(['tunl0', 'sit0', 'gre0', 'gretap0', 'erspan0', 'ip_vti0', 'ip6_vti0', 'ip6tnl0', 'ip6gre0', 'ip6erspan0']);
const kernelFallback = (l: KLink) => FALLBACK_TUNNELS.has(l.ifname) && !l.alias;

/** Commands that make a sandbox's namespace as `spec` describes (also the undo of its deletion). */
function createCommands(ctx: PlanContext, spec: SandboxSpec): Command[] {
  const out = [
    cmd(ctx.host, null, ['netns', 'add', spec.netns], { creates: [netnsRef(ctx.host, spec.netns, spec.address)] }),
    cmd(ctx.host, spec.netns, ['link', 'set', 'dev', 'lo', 'alias', mark(ctx, spec.address), 'up']),
  ];
  const sysctls = Object.entries(spec.sysctls);
  if (sysctls.length) out.push(cmd(ctx.host, spec.netns, sysctls.map(([k, v]) => `${k}=${v}`), { tool: 'sysctl' }));
  return out;
}

interface Observed {
  spec: SandboxSpec;
  ns: KNamespace;
}

function observeSandbox(ctx: PlanContext, address: string): Observed | undefined {
  const ns = ctx.view.ownedNs.get(address);
  if (!ns) return undefined;
  return { ns, spec: { kind: 'sandbox', host: ctx.host, address, netns: ns.name!, sysctls: { ...ns.sysctls } } };
}

/** Deleting a namespace destroys what is in it (a veth takes its peer along). */
function remove(ctx: PlanContext, r: ResourcePlan, have: Observed, action: 'delete' | 'replace'): void {
  const old = have.spec;
  // Interfaces that are not this topology's stop the plan, as foreign ports of a bridge do.
  const foreign = have.ns.links.filter(
    (l) => l.ifname !== 'lo' && !kernelFallback(l) && parseMark(l.alias)?.topology !== ctx.topology && !ctx.view.halfMade.has(`${old.netns}/${l.ifname}`),
  );
  if (foreign.length) {
    const names = foreign.map((l) => `${l.ifname} (${l.kind ?? 'interface'}, ${parseMark(l.alias) ? `owned by topology "${parseMark(l.alias)!.topology}"` : 'not made by tsnet'})`);
    r.error(`cannot delete namespace "${old.netns}": interfaces tsnet does not own are in it: ${names.join(', ')}; move them out or delete them first`);
    return;
  }
  const pids = have.ns.inUse ?? [];
  if (pids.length) {
    r.note(
      `Namespace "${old.netns}" (${r.address}) has processes in it (pid ${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', ...' : ''}): deleting its name leaves them the namespace, so its interfaces are deleted first, one by one.`,
    );
  }
  r.step({
    phase: 'delete',
    ns: null,
    action,
    deletion: true,
    description: `delete namespace ${old.netns}`,
    do: [['netns', 'del', old.netns]],
    deletes: [netnsRef(ctx.host, old.netns, r.address)],
    undo: createCommands(ctx, { ...old, sysctls: {} }),
  });
  if (action === 'delete') r.setChange('delete', `namespace ${old.netns}`, ['not in the topology any more']);
}

/** The leftover file of a namespace the killed run was making, removed and the namespace made. */
function remake(ctx: PlanContext, r: ResourcePlan, spec: SandboxSpec): void {
  create(ctx, r, spec, undefined, [`/run/netns/${spec.netns} is a leftover of the interrupted apply (a file with no namespace on it): removed, and the namespace made again`], {
    leftover: true,
  });
}

function create(ctx: PlanContext, r: ResourcePlan, spec: SandboxSpec, have: Observed | undefined, reasons: string[], opts: { leftover?: boolean } = {}): void {
  const { host, address } = r;
  const action = have || opts.leftover ? 'replace' : 'create';
  const holder = ctx.view.nsHolder(spec.netns, address);
  const created = netnsRef(host, spec.netns, address);
  if (holder) r.clash({ want: created, holder: netnsRef(host, spec.netns), message: `cannot create namespace "${spec.netns}": the name is taken by ${holder}` });
  r.step({
    phase: 'create',
    ns: null,
    action,
    description: `create namespace ${spec.netns}`,
    // `netns del` of a plain file removes it (its umount fails and is ignored).
    do: opts.leftover ? [['netns', 'del', spec.netns], ['netns', 'add', spec.netns]] : [['netns', 'add', spec.netns]],
    undo: [cmd(host, null, ['netns', 'del', spec.netns], { deletes: [created] })],
    creates: [created],
    after: have ? [{ address, phase: 'delete' }] : [],
  });
  r.step({
    phase: 'config',
    ns: spec.netns,
    action,
    description: `bring up lo in ${spec.netns}`,
    do: [['link', 'set', 'dev', 'lo', 'alias', mark(ctx, address), 'up']],
    undo: [],
    after: [{ address, phase: 'create' }],
  });
  const sysctls = Object.entries(spec.sysctls);
  if (sysctls.length) {
    r.step({
      phase: 'sysctl',
      ns: spec.netns,
      tool: 'sysctl',
      action,
      description: `set sysctls in ${spec.netns}`,
      do: sysctls.map(([k, v]) => [`${k}=${v}`]),
      undo: [],
      after: [{ address, phase: 'create' }, { rel: 'endpoints-of', sandbox: sandboxName(address) }],
    });
  }
  r.setChange(action, `namespace ${spec.netns}${sysctls.length ? `, ${sysctls.map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}`, reasons);
}

/** In place: lo up, sysctls. */
function update(ctx: PlanContext, r: ResourcePlan, want: SandboxSpec, have: Observed): void {
  const { host, address } = r;
  const reasons: string[] = [];
  const lo = have.ns.links.find((l) => l.ifname === 'lo');
  if (lo && !lo.up) {
    reasons.push('lo is down');
    r.step({
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `bring up lo in ${want.netns}`,
      do: [['link', 'set', 'dev', 'lo', 'up']],
      undo: [cmd(host, want.netns, ['link', 'set', 'dev', 'lo', 'down'])],
    });
  }
  const changed = Object.entries(want.sysctls).filter(([k, v]) => normalizeValue(have.ns.sysctls[k]) !== normalizeValue(v));
  if (changed.length) {
    for (const [k, v] of changed) reasons.push(`sysctl ${k} ${have.ns.sysctls[k] ?? '(unreadable)'} -> ${v}`);
    r.step({
      phase: 'sysctl',
      ns: want.netns,
      tool: 'sysctl',
      action: 'update',
      description: `set sysctls in ${want.netns}`,
      do: changed.map(([k, v]) => [`${k}=${v}`]),
      undo: changed.filter(([k]) => have.ns.sysctls[k] !== undefined).map(([k]) => cmd(host, want.netns, [`${k}=${have.ns.sysctls[k]}`], { tool: 'sysctl' })),
      after: [{ rel: 'endpoints-of', sandbox: sandboxName(address) }],
    });
  }
  if (reasons.length) r.setChange('update', `namespace ${want.netns}`, reasons);
}

/**
 * An external sandbox: a namespace tsnet did not make. It must be there and must not be one
 * tsnet made; nothing is planned for the namespace itself (no lo mark, no sysctls, never deleted).
 */
function planExternal(ctx: PlanContext, r: ResourcePlan, want: SandboxSpec & { external: NonNullable<SandboxSpec['external']> }): void {
  const ns = ctx.view.state.namespaces.get(want.netns);
  const what = 'pid' in want.external ? `the network namespace of process ${want.external.pid} (as "${want.netns}")` : `namespace "${want.netns}"`;
  if (!ns) {
    r.error(
      'pid' in want.external
        ? `external sandbox: process ${want.external.pid} is gone (no /proc/${want.external.pid}/ns/net on host "${ctx.host}"): an external sandbox's process must be running`
        : `external sandbox: ${what} does not exist on host "${ctx.host}"; tsnet attaches to a namespace, it does not make one for an external sandbox`,
    );
    return;
  }
  const mark = parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias);
  if (mark) {
    r.error(`external sandbox: ${what} was made by tsnet (topology "${mark.topology}", ${mark.address}), so it is not external`);
    return;
  }
  r.have = want;
}

export const sandboxes = perResource<SandboxSpec>({
  kind: 'sandbox',
  observed: (ctx) => ctx.view.ownedNs.keys(),
  plan(ctx, r, want) {
    if (want?.external) return planExternal(ctx, r, { ...want, external: want.external });
    const have = observeSandbox(ctx, r.address);
    if (have) r.have = have.spec;
    if (!want && have) return remove(ctx, r, have, 'delete');
    if (want && !have) return create(ctx, r, want, undefined, []);
    if (!want || !have) return;
    if (have.ns.leftover && have.spec.netns === want.netns) return remake(ctx, r, want);
    if (have.spec.netns !== want.netns) {
      remove(ctx, r, have, 'replace');
      return create(ctx, r, want, have, [`namespace ${have.spec.netns} -> ${want.netns} (forces replacement)`]);
    }
    update(ctx, r, want, have);
  },
});
