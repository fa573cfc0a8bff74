// What every applier shares: the view of one host's live state sorted by ownership, the sink
// that collects changes, steps and errors, and small builders for commands.
import { markText, parseMark } from '../state/ownership.js';
import type { HostState, KLink, KNamespace, KRoute } from '../state/types.js';
import type { Spec } from '../planner/desired.js';
import type { Action, Change, Command, PlanError, ResourceKind, Step, Tool } from '../planner/types.js';

/** Routes tsnet adds carry this protocol number: that is their ownership mark. */
export const ROUTE_PROTO = '116';

/** Suffix of the mark on the host-side end of a veth pair. */
export const PEER_SUFFIX = '/peer';

/**
 * What an interrupted apply was creating on a host, from its journal: namespace names and
 * links ("<ns>/<ifname>", ns '' for the host's own stack), each with the resource address whose
 * mark it would have got. Such an object found without any mark is this topology's half-made
 * work, not a foreign object.
 */
export interface Adoption {
  namespaces: Map<string, string>;
  links: Map<string, string>;
  /** The kind a link must be to be adopted ("<ns>/<ifname>" -> bridge, veth, ...), where known. */
  kinds?: Map<string, string>;
}

/**
 * The objects the `do` lines of a step create or mark, with the mark address each gets. Marking
 * lines count too: a repair that was itself killed before its mark steps ran leaves the same
 * unmarked objects, and only its own journal is left to recognise them.
 */
export function createdBy(step: { ns: string | null; tool: string; address: string; do: string[][] }, into: Adoption): void {
  if (step.tool !== 'ip') return;
  for (const l of step.do) {
    if (l[0] === 'netns' && l[1] === 'add' && l[2]) into.namespaces.set(l[2], step.address);
    if (l[0] === 'link' && l[1] === 'set' && l[2] && l[3] === 'alias') {
      const mark = parseMark(l[4]);
      if (mark && l[2] === 'lo' && step.ns) into.namespaces.set(step.ns, mark.address);
      else if (mark && l[2] !== 'lo') into.links.set(`${step.ns ?? ''}/${l[2]}`, mark.address);
      continue;
    }
    if (l[0] !== 'link' || l[1] !== 'add') continue;
    const type = l[l.indexOf('type') + 1];
    const kinds = (into.kinds ??= new Map());
    if (l[2] === 'link') {
      // link add link PARENT name IF netns NS type macvlan ...
      const name = l[l.indexOf('name') + 1];
      const ns = l.includes('netns') ? l[l.indexOf('netns') + 1] : step.ns ?? '';
      if (name) {
        into.links.set(`${ns}/${name}`, step.address);
        if (type) kinds.set(`${ns}/${name}`, type);
      }
    } else if (type === 'veth') {
      // link add HOST type veth peer name IF netns NS: the host end and the inner end
      into.links.set(`${step.ns ?? ''}/${l[2]}`, step.address + PEER_SUFFIX);
      kinds.set(`${step.ns ?? ''}/${l[2]}`, 'veth');
      const inner = l[l.indexOf('name') + 1];
      const ns = l.includes('netns') ? l[l.indexOf('netns') + 1] : step.ns ?? '';
      if (inner) {
        into.links.set(`${ns}/${inner}`, step.address);
        kinds.set(`${ns}/${inner}`, 'veth');
      }
    } else if (l[2]) {
      into.links.set(`${step.ns ?? ''}/${l[2]}`, type === 'vxlan' ? `${step.address}/vxlan` : step.address);
      if (type) kinds.set(`${step.ns ?? ''}/${l[2]}`, type);
    }
  }
}

/** One host's live state, sorted into what this topology owns and what it does not. */
export class HostView {
  /** Namespaces owned by this topology on this host, by resource address ("sandbox.web"). */
  readonly ownedNs = new Map<string, KNamespace>();
  /** Links owned by this topology (own stack and owned namespaces), by mark address. */
  readonly ownedLinks = new Map<string, KLink[]>();
  /** Routes owned by this topology, by namespace name. */
  readonly ownedRoutes = new Map<string, KRoute[]>();
  /** Sandbox address of each owned namespace name. */
  readonly nsAddress = new Map<string, string>();

  /**
   * Unmarked objects taken as this topology's because an interrupted apply was making them
   * (see Adoption): "ns:<name>" for namespaces, "<ns>/<ifname>" for links.
   */
  readonly halfMade = new Map<string, string>();

  constructor(
    readonly topology: string,
    readonly state: HostState,
    /** Whether an owned namespace for `sandbox.X` belongs to this host (several netns hosts share a machine). */
    belongs: (sandboxAddress: string) => boolean,
    adopt?: Adoption,
  ) {
    for (const ns of state.namespaces.values()) {
      const lo = ns.links.find((l) => l.ifname === 'lo');
      let mark = parseMark(lo?.alias);
      if (!lo?.alias && adopt?.namespaces.has(ns.name!)) {
        mark = { topology, address: adopt.namespaces.get(ns.name!)! };
        this.halfMade.set(`ns:${ns.name}`, mark.address);
      }
      if (!mark || mark.topology !== topology || !belongs(mark.address)) continue;
      this.ownedNs.set(mark.address, ns);
      this.nsAddress.set(ns.name!, mark.address);
      this.ownedRoutes.set(ns.name!, ns.routes.filter((r) => r.protocol === ROUTE_PROTO));
    }
    for (const ns of [state.root, ...this.ownedNs.values()]) {
      for (const link of ns.links) {
        if (link.ifname === 'lo') continue;
        let mark = parseMark(link.alias);
        const key = `${ns.name ?? ''}/${link.ifname}`;
        const kind = adopt?.kinds?.get(key);
        if (!link.alias && adopt?.links.has(key) && (kind === undefined || link.kind === kind)) {
          mark = { topology, address: adopt.links.get(key)! };
          this.halfMade.set(key, mark.address);
        }
        if (!mark || mark.topology !== topology) continue;
        const list = this.ownedLinks.get(mark.address) ?? [];
        list.push(link);
        this.ownedLinks.set(mark.address, list);
      }
    }
  }

  get host(): string {
    return this.state.host;
  }

  namespace(name: string | null): KNamespace | undefined {
    return name === null ? this.state.root : this.state.namespaces.get(name);
  }

  link(ns: string | null, ifname: string): KLink | undefined {
    return this.namespace(ns)?.links.find((l) => l.ifname === ifname);
  }

  /** The owned link with this mark in this namespace (undefined ns: anywhere). */
  owned(address: string, ns?: string | null): KLink | undefined {
    const list = this.ownedLinks.get(address) ?? [];
    return ns === undefined ? list[0] : list.find((l) => l.ns === ns);
  }

  /** Who holds an interface name, for clash messages; undefined when free. */
  holder(ns: string | null, ifname: string): string | undefined {
    const link = this.link(ns, ifname);
    if (!link) return undefined;
    const mark = parseMark(link.alias);
    const where = ns === null ? "in the host's own stack" : `in namespace "${ns}"`;
    if (!mark) return `a foreign ${link.kind ?? 'interface'} "${ifname}" ${where} (not made by tsnet)`;
    if (mark.topology !== this.topology) return `"${ifname}" ${where}, owned by topology "${mark.topology}" (${mark.address})`;
    return `"${ifname}" ${where}, owned by ${mark.address} of this topology`;
  }

  /**
   * Interfaces on a bridge of ours that are not this topology's (a user's veth, another
   * topology's port): deleting the bridge would change them, so the plan refuses.
   */
  foreignPorts(bridge: string): string[] {
    return this.state.root.links
      .filter((l) => l.master === bridge && parseMark(l.alias)?.topology !== this.topology)
      .map((l) => `${l.ifname} (${parseMark(l.alias) ? `owned by topology "${parseMark(l.alias)!.topology}"` : 'not made by tsnet'})`);
  }

  /** Who holds a namespace name, for clash messages; undefined when free or ours. */
  nsHolder(name: string, address: string): string | undefined {
    const ns = this.state.namespaces.get(name);
    if (!ns) return undefined;
    const mark = parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias);
    if (!mark) return `a foreign namespace "${name}" (not made by tsnet)`;
    if (mark.topology !== this.topology) return `namespace "${name}", owned by topology "${mark.topology}" (${mark.address})`;
    if (mark.address !== address && !this.ownedNs.has(mark.address)) return `namespace "${name}", owned by ${mark.address} of this topology on another host`;
    return undefined;
  }
}

export interface StepDraft {
  phase: string;
  ns: string | null;
  tool?: Tool;
  action: Action;
  description: string;
  do: string[][];
  undo: Command[];
  /** Dependencies as "<address>|<phase>" on the same host, or "<host>|<address>|<phase>". */
  after?: string[];
}

/** Collects a plan's changes, steps and errors while appliers run. */
export class Sink {
  readonly changes: Change[] = [];
  readonly steps: Step[] = [];
  readonly errors: PlanError[] = [];
  /** Things the reader of the plan should know that are not changes (e.g. forwarding is off). */
  readonly notes: string[] = [];
  private readonly byId = new Map<string, Step>();

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  change(host: string, address: string, kind: ResourceKind, action: Action, summary: string, reasons: string[]): void {
    this.changes.push({ action, host, address, kind, summary, reasons });
  }

  error(host: string, address: string, message: string): void {
    this.errors.push({ host, address, message });
  }

  step(host: string, address: string, d: StepDraft): string {
    const id = `${host}|${address}|${d.phase}`;
    const step: Step = {
      id,
      host,
      ns: d.ns,
      tool: d.tool ?? 'ip',
      address,
      action: d.action,
      description: d.description,
      do: d.do,
      undo: d.undo,
      after: (d.after ?? []).map((a) => (a.split('|').length === 2 ? `${host}|${a}` : a.includes('|') ? a : `${host}|${address}|${a}`)),
    };
    this.steps.push(step);
    this.byId.set(id, step);
    return id;
  }

  has(stepId: string): boolean {
    return this.byId.has(stepId);
  }

  /** Makes an existing step wait for another one (ids as the steps have them). */
  addAfter(stepId: string, dependency: string): void {
    this.byId.get(stepId)?.after.push(dependency);
  }

  /** Adds undo commands to an existing step (a namespace's deletion restores its contents too). */
  extendUndo(stepId: string, commands: Command[]): void {
    this.byId.get(stepId)?.undo.push(...commands);
  }
}

/** Everything an applier needs for one host. */
export interface Context {
  topology: string;
  host: string;
  view: HostView;
  desired: ReadonlyMap<string, Spec>;
  sink: Sink;
  /** Namespaces deleted on this host by this plan: what is inside goes with them. */
  dyingNs: Map<string, string>;
  /**
   * Links deleted by this plan ("<ns>/<ifname>", ns empty for the host's own stack -> deleting
   * step id): the kernel removes their routes with them, and a bridge's deletion takes its ports
   * off it.
   */
  dyingLinks: Map<string, string>;
  /** Namespaces created by this plan on this host, by name -> creating step id. */
  newNs: Map<string, string>;
  /**
   * Links in sandboxes whose every IPv4 address this plan deletes ("<ns>/<ifname>" -> step id):
   * the kernel drops the link's IPv4 routes when its last IPv4 address goes.
   */
  flushedLinks: Map<string, string>;
}

export const mark = (ctx: Context, address: string): string => markText(ctx.topology, address);

export const cmd = (host: string, ns: string | null, argv: string[], tool: Tool = 'ip'): Command => ({ host, ns, tool, argv });

/** Addresses that count as configured on a link: global ones, and link-local ones when IPv6 should be off. */
export function managedAddresses(link: KLink, ipv6: boolean): string[] {
  return link.addresses
    .filter((a) => a.scope !== 'link' || (a.family === 6 && !ipv6))
    .filter((a) => a.scope !== 'host')
    .map((a) => a.cidr);
}

/** `addr add` arguments; IPv6 without duplicate address detection, so it is usable at once. */
export const addrAdd = (cidr: string, dev: string): string[] =>
  cidr.includes(':') ? ['addr', 'add', cidr, 'dev', dev, 'nodad'] : ['addr', 'add', cidr, 'dev', dev];

export const addrDel = (cidr: string, dev: string): string[] => ['addr', 'del', cidr, 'dev', dev];

/** Reasons for address differences, and the commands that repair them (and undo the repair). */
export function diffAddresses(
  host: string,
  ns: string | null,
  dev: string,
  want: readonly string[],
  have: readonly string[],
): { reasons: string[]; lines: string[][]; undo: Command[] } {
  const reasons: string[] = [];
  const lines: string[][] = [];
  const undo: Command[] = [];
  for (const a of have) {
    if (want.includes(a)) continue;
    reasons.push(`address ${a} is not in the topology`);
    lines.push(addrDel(a, dev));
    undo.push(cmd(host, ns, addrAdd(a, dev)));
  }
  for (const a of want) {
    if (have.includes(a)) continue;
    reasons.push(`address ${a} missing`);
    lines.push(addrAdd(a, dev));
    undo.push(cmd(host, ns, addrDel(a, dev)));
  }
  return { reasons, lines, undo };
}
