// Sandboxes: a named network namespace with lo up, marked on lo, and its sysctls.
import type { SandboxSpec } from '../planner/desired.js';
import type { KLink, KNamespace } from '../state/types.js';
import { parseMark } from '../state/ownership.js';
import { cmd, mark, netnsRef, type Context } from './common.js';
import type { Command } from '../planner/types.js';

const sandboxName = (address: string) => address.slice('sandbox.'.length);

const normalizeValue = (v: string | undefined) => v?.trim().replace(/\s+/g, ' ');

/** Devices the kernel itself puts in every new namespace when tunnel modules are loaded. */
const FALLBACK_TUNNELS = new Set(['tunl0', 'sit0', 'gre0', 'gretap0', 'erspan0', 'ip_vti0', 'ip6_vti0', 'ip6tnl0', 'ip6gre0', 'ip6erspan0']);
const kernelFallback = (l: KLink) => FALLBACK_TUNNELS.has(l.ifname) && !l.alias;

/** Commands that make a sandbox's namespace as `spec` describes (also the undo of its deletion). */
export function createCommands(ctx: Context, spec: SandboxSpec): Command[] {
  const out = [
    cmd(ctx.host, null, ['netns', 'add', spec.netns], { creates: [netnsRef(ctx.host, spec.netns, spec.address)] }),
    cmd(ctx.host, spec.netns, ['link', 'set', 'lo', 'alias', mark(ctx, spec.address), 'up']),
  ];
  const sysctls = Object.entries(spec.sysctls);
  if (sysctls.length) out.push(cmd(ctx.host, spec.netns, sysctls.map(([k, v]) => `${k}=${v}`), { tool: 'sysctl' }));
  return out;
}

export function observeSandbox(ctx: Context, address: string): { spec: SandboxSpec; ns: KNamespace } | undefined {
  const ns = ctx.view.ownedNs.get(address);
  if (!ns) return undefined;
  return { ns, spec: { kind: 'sandbox', host: ctx.host, address, netns: ns.name!, sysctls: { ...ns.sysctls } } };
}

export function planSandbox(ctx: Context, address: string, want: SandboxSpec | undefined): void {
  const { host, sink } = ctx;
  const have = observeSandbox(ctx, address);

  const remove = (reason: string, action: 'delete' | 'replace') => {
    const old = have!.spec;
    // Deleting a namespace destroys what is in it (a veth takes its peer along): interfaces that
    // are not this topology's stop the plan, as foreign ports of a bridge do.
    const foreign = have!.ns.links.filter(
      (l) => l.ifname !== 'lo' && !kernelFallback(l) && parseMark(l.alias)?.topology !== ctx.topology && !ctx.view.halfMade.has(`${old.netns}/${l.ifname}`),
    );
    if (foreign.length) {
      const names = foreign.map((l) => `${l.ifname} (${l.kind ?? 'interface'}, ${parseMark(l.alias) ? `owned by topology "${parseMark(l.alias)!.topology}"` : 'not made by tsnet'})`);
      sink.error(host, address, `cannot delete namespace "${old.netns}": interfaces tsnet does not own are in it: ${names.join(', ')}; move them out or delete them first`);
      return;
    }
    const pids = have!.ns.inUse ?? [];
    if (pids.length) {
      sink.note(
        `Namespace "${old.netns}" (${address}) has processes in it (pid ${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', ...' : ''}): deleting its name leaves them the namespace, so its interfaces are deleted first, one by one.`,
      );
    }
    const id = sink.step(host, address, {
      phase: 'delete',
      ns: null,
      action,
      deletion: true,
      description: `delete namespace ${old.netns}`,
      do: [['netns', 'del', old.netns]],
      deletes: [netnsRef(host, old.netns, address)],
      undo: createCommands(ctx, { ...old, sysctls: {} }),
    });
    ctx.dyingNs.set(old.netns, id);
    if (action === 'delete') sink.change(host, address, 'sandbox', 'delete', `namespace ${old.netns}`, [reason]);
  };

  const create = (action: 'create' | 'replace', reasons: string[]) => {
    const spec = want!;
    const holder = ctx.view.nsHolder(spec.netns, address);
    if (holder && !ctx.dyingNs.has(spec.netns)) {
      sink.error(host, address, `cannot create namespace "${spec.netns}": the name is taken by ${holder}`);
      return;
    }
    const createId = sink.step(host, address, {
      phase: 'create',
      ns: null,
      action,
      description: `create namespace ${spec.netns}`,
      do: [['netns', 'add', spec.netns]],
      undo: [cmd(host, null, ['netns', 'del', spec.netns], { deletes: [netnsRef(host, spec.netns, address)] })],
      creates: [netnsRef(host, spec.netns, address)],
      after: have ? [{ address, phase: 'delete' }] : [],
    });
    ctx.newNs.set(spec.netns, createId);
    sink.step(host, address, {
      phase: 'config',
      ns: spec.netns,
      action,
      description: `bring up lo in ${spec.netns}`,
      do: [
        ['link', 'set', 'lo', 'alias', mark(ctx, address), 'up'],
      ],
      undo: [],
      after: [{ address, phase: 'create' }],
    });
    const sysctls = Object.entries(spec.sysctls);
    if (sysctls.length) {
      sink.step(host, address, {
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
    const summary = `namespace ${spec.netns}${sysctls.length ? `, ${sysctls.map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}`;
    sink.change(host, address, 'sandbox', action, summary, reasons);
  };

  if (!want && have) return remove('not in the topology any more', 'delete');
  if (want && !have) return create('create', []);
  if (!want || !have) return;

  if (have.spec.netns !== want.netns) {
    remove('', 'replace');
    return create('replace', [`namespace ${have.spec.netns} -> ${want.netns} (forces replacement)`]);
  }

  // In place: lo up, sysctls.
  const reasons: string[] = [];
  const lo = have.ns.links.find((l) => l.ifname === 'lo');
  if (lo && !lo.up) {
    reasons.push('lo is down');
    sink.step(host, address, {
      phase: 'update',
      ns: want.netns,
      action: 'update',
      description: `bring up lo in ${want.netns}`,
      do: [['link', 'set', 'lo', 'up']],
      undo: [cmd(host, want.netns, ['link', 'set', 'lo', 'down'])],
    });
  }
  const changed = Object.entries(want.sysctls).filter(([k, v]) => normalizeValue(have.ns.sysctls[k]) !== normalizeValue(v));
  if (changed.length) {
    for (const [k, v] of changed) reasons.push(`sysctl ${k} ${have.ns.sysctls[k] ?? '(unreadable)'} -> ${v}`);
    sink.step(host, address, {
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
  if (reasons.length) sink.change(host, address, 'sandbox', 'update', `namespace ${want.netns}`, reasons);
}
