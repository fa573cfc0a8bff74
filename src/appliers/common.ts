// What every applier shares: the view of one host's live state sorted by ownership, the sink
// that collects changes, steps and errors, and small builders for commands.
import { markText, parseMark } from '../state/ownership.js';
import type { HostState, KLink, KNamespace, KRoute } from '../state/types.js';
import type { Spec } from '../planner/desired.js';
import { stepKey, type Action, type Change, type Command, type ObjectRef, type PlanError, type ResourceKind, type Step, type StepRef, type Tool } from '../planner/types.js';

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
 * The objects a step makes or marks, with the mark address each gets. Marking steps count
 * too: a repair that was itself killed before its mark steps ran leaves the same unmarked
 * objects, and only its own journal is left to recognise them.
 */
export function adoptFrom(step: Pick<Step, 'address' | 'creates' | 'marks'>, into: Adoption): void {
  const take = (o: ObjectRef) => {
    if (o.kind === 'netns') into.namespaces.set(o.name, o.mark ?? step.address);
    if (o.kind !== 'link') return;
    const key = `${o.ns ?? ''}/${o.name}`;
    into.links.set(key, o.mark ?? step.address);
    if (o.linkKind) (into.kinds ??= new Map()).set(key, o.linkKind);
  };
  step.creates.forEach(take);
  step.marks.forEach(take);
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

/** A dependency on another step: on this host unless `host` says otherwise. */
export interface StepDep {
  address: string;
  phase: string;
  host?: string;
}

/**
 * A dependency on a set of steps known only once every applier has spoken (resolved by the
 * planner): the endpoint steps of a sandbox (routes and sysctls need its interfaces), the route
 * deletions of a sandbox (before its links go), the port deletions of the host (before a bridge
 * goes: a namespace's deletion takes its veths along).
 */
export type Relation = { rel: 'endpoints-of'; sandbox: string } | { rel: 'route-deletions-of'; sandbox: string } | { rel: 'port-deletions' };

export type Dep = StepDep | Relation;

/** A step as an applier writes it. */
export interface StepDraft {
  phase: string;
  ns: string | null;
  tool?: Tool;
  action: Action;
  /** The step takes something away: it runs before anything is made. */
  deletion?: boolean;
  description: string;
  do: string[][];
  undo: Command[];
  creates?: ObjectRef[];
  deletes?: ObjectRef[];
  marks?: ObjectRef[];
  after?: Dep[];
}

/** Shared by every step that makes, deletes or marks nothing: never written to. */
export const NO_OBJECTS: ObjectRef[] = Object.freeze([]) as unknown as ObjectRef[];

/** Collects a plan's changes, steps and errors while appliers run. */
export class Sink {
  readonly changes: Change[] = [];
  readonly steps: Step[] = [];
  readonly errors: PlanError[] = [];
  /** Things the reader of the plan should know that are not changes (e.g. forwarding is off). */
  readonly notes: string[] = [];
  /** Each step's dependencies as written, until the planner resolves them. */
  readonly deps = new Map<string, Dep[]>();
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

  step(host: string, address: string, d: StepDraft): StepRef {
    const ref = { host, address, phase: d.phase };
    const id = stepKey(ref);
    const step: Step = {
      id,
      host,
      address,
      phase: d.phase,
      ns: d.ns,
      tool: d.tool ?? 'ip',
      action: d.action,
      isDeletion: d.deletion ?? false,
      description: d.description,
      do: d.do,
      undo: d.undo,
      creates: d.creates ?? NO_OBJECTS,
      deletes: d.deletes ?? NO_OBJECTS,
      marks: d.marks ?? NO_OBJECTS,
      after: [],
    };
    this.steps.push(step);
    this.byId.set(id, step);
    if (d.after?.length) this.deps.set(id, d.after);
    return ref;
  }

  has(ref: StepRef): boolean {
    return this.byId.has(stepKey(ref));
  }

  /** Makes an existing step wait for another one. */
  addAfter(ref: StepRef, dependency: StepRef): void {
    const id = stepKey(ref);
    this.deps.set(id, [...(this.deps.get(id) ?? []), dependency]);
  }

  /** Adds undo commands to an existing step (a namespace's deletion restores its contents too). */
  extendUndo(ref: StepRef, commands: Command[]): void {
    this.byId.get(stepKey(ref))?.undo.push(...commands);
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
  dyingNs: Map<string, StepRef>;
  /**
   * Links deleted by this plan ("<ns>/<ifname>", ns empty for the host's own stack -> deleting
   * step id): the kernel removes their routes with them, and a bridge's deletion takes its ports
   * off it.
   */
  dyingLinks: Map<string, StepRef>;
  /** Namespaces created by this plan on this host, by name -> creating step id. */
  newNs: Map<string, StepRef>;
  /**
   * Links in sandboxes whose every IPv4 address this plan deletes ("<ns>/<ifname>" -> step id):
   * the kernel drops the link's IPv4 routes when its last IPv4 address goes.
   */
  flushedLinks: Map<string, StepRef>;
}

export const mark = (ctx: Context, address: string): string => markText(ctx.topology, address);

export interface CommandOptions {
  tool?: Tool;
  creates?: ObjectRef[];
  deletes?: ObjectRef[];
}

export const cmd = (host: string, ns: string | null, argv: string[], o: CommandOptions = {}): Command => ({
  host,
  ns,
  tool: o.tool ?? 'ip',
  argv,
  ...(o.creates ? { creates: o.creates } : {}),
  ...(o.deletes ? { deletes: o.deletes } : {}),
});

/** A namespace as an object of a step. */
export const netnsRef = (host: string, name: string, mark?: string): ObjectRef => ({ kind: 'netns', host, ns: null, name, ...(mark ? { mark } : {}) });

/** A link as an object of a step. */
export const linkRef = (host: string, ns: string | null, name: string, o: { linkKind?: string; mark?: string } = {}): ObjectRef => ({ kind: 'link', host, ns, name, ...o });

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
