// One host's live state sorted by ownership: what this topology owns (namespaces, links,
// routes), what an interrupted apply of it half made, and who holds a name it wants.
import { parseMark } from '../state/ownership.js';
import type { HostState, KLink, KNamespace, KRoute } from '../state/types.js';
import type { ObjectRef, Step } from '../planner/types.js';
import { ROUTE_PROTO } from './common.js';

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
  /**
   * The start of the journal of the run that may have made each object (ISO time; keys as in
   * HostView.halfMade: "ns:<name>", "<ns>/<ifname>").
   */
  since?: Map<string, string>;
  /**
   * The highest ifindex in each namespace ('' = the host's own stack) when the killed run
   * began: a link it made has a higher one (the kernel counts ifindexes up in each namespace).
   */
  ifindexMax?: Map<string, number>;
  /** Keys of objects made before the journal's run (see adoptObject): no ifindex witness. */
  earlier?: Set<string>;
}

/** Devices the kernel itself puts in every new namespace when tunnel modules are loaded. */
const FALLBACK_TUNNELS = new Set(['tunl0', 'sit0', 'gre0', 'gretap0', 'erspan0', 'ip_vti0', 'ip6_vti0', 'ip6tnl0', 'ip6gre0', 'ip6erspan0']);
const LOOPBACK = new Set(['127.0.0.1/8', '::1/128']);
/** The kernel's clock for inode times is coarse: a namespace made just after the start may read a tick earlier. */
const CLOCK_SLACK_MS = 50;

/**
 * Why an unmarked namespace a killed run was making cannot be its work (undefined: it can be):
 * made before the run began, or holding what the run would not make (an interface not in its
 * journal, an address on lo, a route not of tsnet's, a process).
 */
export function notAdoptable(ns: KNamespace, adopt: Adoption): string | undefined {
  const name = ns.name!;
  const since = adopt.since?.get(`ns:${name}`);
  if (ns.created !== undefined && since && ns.created < Date.parse(since) - CLOCK_SLACK_MS) {
    return `namespace "${name}" was made at ${new Date(ns.created).toISOString()}, before the interrupted run began (${since}): it is not that run's work`;
  }
  const holds: string[] = [];
  for (const l of ns.links) {
    if (l.ifname === 'lo') {
      const extra = l.addresses.filter((a) => !LOOPBACK.has(a.cidr));
      if (extra.length) holds.push(`address ${extra.map((a) => a.cidr).join(', ')} on lo`);
    } else if (!(FALLBACK_TUNNELS.has(l.ifname) && !l.alias) && !adopt.links.has(`${name}/${l.ifname}`) && !parseMark(l.alias)) {
      holds.push(`interface ${l.ifname} (${l.kind ?? 'interface'})`);
    }
  }
  const routes = ns.routes.filter((r) => r.protocol !== ROUTE_PROTO && r.protocol !== 'kernel');
  if (routes.length) holds.push(`route ${routes.map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).join(', ')}`);
  if (ns.inUse?.length) holds.push(`process ${ns.inUse.slice(0, 5).join(', ')}`);
  if (!holds.length) return undefined;
  return `namespace "${name}" holds what the interrupted run would not make (${holds.join('; ')}): it is not taken as this topology's; remove it, or what it holds, by hand`;
}

/** Why an unmarked link a killed run was making cannot be its work: it existed before the run began. */
function linkNotAdoptable(link: KLink, ns: string | null, adopt: Adoption): string | undefined {
  const max = adopt.ifindexMax?.get(ns ?? '');
  if (max === undefined || link.ifindex > max || adopt.earlier?.has(`${ns ?? ''}/${link.ifname}`)) return undefined;
  const where = ns === null ? "in the host's own stack" : `in namespace "${ns}"`;
  return `${link.kind ?? 'interface'} "${link.ifname}" ${where} existed before the interrupted run began (ifindex ${link.ifindex}; the highest then was ${max}): it is not that run's work`;
}

/**
 * The objects a step makes or marks, with the mark address each gets. Marking steps count
 * too: a repair that was itself killed before its mark steps ran leaves the same unmarked
 * objects, and only its own journal is left to recognise them.
 */
export function adoptFrom(step: Pick<Step, 'address' | 'creates' | 'marks'>, into: Adoption, since?: string): void {
  step.creates.forEach((o) => adoptObject(o, o.mark ?? step.address, into, since));
  // What a step marks was there before its run (made by an earlier one): no time witness.
  step.marks.forEach((o) => adoptObject(o, o.mark ?? step.address, into, undefined, { earlier: true }));
}

/**
 * One object (a namespace or a link; others are not marked) to take as ours when found unmarked.
 * `earlier`: made by a run before the journal's (what it marks, what it had taken over): the
 * witnesses of the journal's start (time, ifindex) do not apply to it.
 */
export function adoptObject(o: ObjectRef, mark: string, into: Adoption, since?: string, opts: { earlier?: boolean } = {}): void {
  const key = o.kind === 'netns' ? `ns:${o.name}` : `${o.ns ?? ''}/${o.name}`;
  if (opts.earlier) (into.earlier ??= new Set()).add(key);
  if (o.kind === 'netns') into.namespaces.set(o.name, mark);
  else if (o.kind === 'link') {
    into.links.set(key, mark);
    if (o.linkKind) (into.kinds ??= new Map()).set(key, o.linkKind);
  } else return;
  // The earliest start wins: the object may be as old as the first run that could make it.
  const had = into.since?.get(key);
  if (since && (had === undefined || since < had)) (into.since ??= new Map()).set(key, since);
}

/** One host's live state, sorted into what this topology owns and what it does not. */
export class HostView {
  /** Namespaces owned by this topology on this host, by resource address ("sandbox.web"). */
  readonly ownedNs = new Map<string, KNamespace>();
  /** Links owned by this topology (own stack and owned namespaces), by mark address. */
  readonly ownedLinks = new Map<string, KLink[]>();
  /** Routes owned by this topology, by namespace name. */
  readonly ownedRoutes = new Map<string, KRoute[]>();
  /** Sandbox address of each owned or attached namespace name. */
  readonly nsAddress = new Map<string, string>();
  /**
   * Namespaces tsnet did not make that hold (or are to hold) this topology's endpoints: external
   * sandboxes, by resource address. Read like owned ones (marked links, tsnet's routes), but the
   * namespace itself is never the topology's: no lo mark, never deleted.
   */
  readonly attachedNs = new Map<string, KNamespace>();

  /**
   * Unmarked objects taken as this topology's because an interrupted apply was making them
   * (see Adoption), with the mark address each gets; keyed "ns:<name>" for namespaces,
   * "<ns>/<ifname>" for links (keys for lookups only).
   */
  readonly halfMade = new Map<string, { object: ObjectRef; mark: string }>();
  /** Unmarked objects a journal names that are not taken (notAdoptable): plan errors, by mark address. */
  readonly refused: { address: string; message: string }[] = [];
  /** Names under /run/netns with no namespace on them that are not this topology's (left alone). */
  readonly leftovers: string[] = [];

  constructor(
    readonly topology: string,
    readonly state: HostState,
    /** Whether an owned namespace for `sandbox.X` belongs to this host (several netns hosts share a machine). */
    belongs: (sandboxAddress: string) => boolean,
    adopt?: Adoption,
    /** External sandboxes the file names on this host: namespace name -> sandbox address. */
    attached?: ReadonlyMap<string, string>,
  ) {
    for (const ns of state.namespaces.values()) {
      if (ns.leftover) {
        // A file with no namespace on it. Ours when the killed run was making that namespace:
        // owned (its sandbox removes the file and makes the namespace again); else in the way.
        const address = adopt?.namespaces.get(ns.name!);
        if (address !== undefined && belongs(address)) {
          this.ownedNs.set(address, ns);
          this.nsAddress.set(ns.name!, address);
          this.ownedRoutes.set(ns.name!, []);
        } else this.leftovers.push(ns.name!);
        continue;
      }
      const lo = ns.links.find((l) => l.ifname === 'lo');
      let mark = parseMark(lo?.alias);
      if (!lo?.alias && adopt?.namespaces.has(ns.name!)) {
        const address = adopt.namespaces.get(ns.name!)!;
        const refusal = notAdoptable(ns, adopt);
        if (refusal) this.refused.push({ address, message: refusal });
        else {
          mark = { topology, address };
          this.halfMade.set(`ns:${ns.name}`, { object: { kind: 'netns', host: state.host, ns: null, name: ns.name! }, mark: mark.address });
        }
      }
      if (!mark || mark.topology !== topology || !belongs(mark.address)) continue;
      this.ownedNs.set(mark.address, ns);
      this.nsAddress.set(ns.name!, mark.address);
      this.ownedRoutes.set(ns.name!, ns.routes.filter((r) => r.protocol === ROUTE_PROTO));
    }
    this.attach(attached, belongs);
    for (const ns of [state.root, ...this.ownedNs.values(), ...this.attachedNs.values()]) {
      for (const link of ns.links) {
        if (link.ifname === 'lo') continue;
        let mark = parseMark(link.alias);
        const key = `${ns.name ?? ''}/${link.ifname}`;
        const kind = adopt?.kinds?.get(key);
        if (!link.alias && adopt?.links.has(key) && (kind === undefined || link.kind === kind)) {
          const address = adopt.links.get(key)!;
          const refusal = linkNotAdoptable(link, ns.name, adopt);
          if (refusal) this.refused.push({ address: address.split('/')[0]!, message: refusal });
          else {
            mark = { topology, address };
            this.halfMade.set(key, { object: { kind: 'link', host: state.host, ns: ns.name, name: link.ifname }, mark: mark.address });
          }
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

  /**
   * External sandboxes: those the file names, and namespaces without this topology's lo mark
   * that still hold an endpoint it marked (an external sandbox taken out of the file: detached).
   */
  private attach(attached: ReadonlyMap<string, string> | undefined, belongs: (sandboxAddress: string) => boolean): void {
    const add = (ns: KNamespace, address: string) => {
      if (this.ownedNs.has(address) || this.nsAddress.has(ns.name!)) return;
      this.attachedNs.set(address, ns);
      this.nsAddress.set(ns.name!, address);
      this.ownedRoutes.set(ns.name!, ns.routes.filter((r) => r.protocol === ROUTE_PROTO));
    };
    for (const [name, address] of attached ?? []) {
      const ns = this.state.namespaces.get(name);
      if (ns && !parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias)) add(ns, address);
    }
    for (const ns of this.state.namespaces.values()) {
      if (this.nsAddress.has(ns.name!) || parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias)) continue;
      for (const link of ns.links) {
        const mark = parseMark(link.alias);
        if (mark?.topology !== this.topology || !mark.address.startsWith('endpoint.')) continue;
        const address = `sandbox.${mark.address.split('.')[1]}`;
        if (belongs(address)) add(ns, address);
        break;
      }
    }
  }

  private parts = new Map<string, Map<string, string[]>>();

  /** The mark addresses of the owned links of a resource ("network.x", "network.x/vxlan"). */
  ownedParts(resource: string): readonly string[] {
    // Indexed per kind of resource, when first asked: a network's parts are found without
    // going through every endpoint's.
    const kind = resource.slice(0, resource.indexOf('.') + 1);
    let index = this.parts.get(kind);
    if (!index) {
      index = new Map();
      for (const address of this.ownedLinks.keys()) {
        if (!address.startsWith(kind)) continue;
        const slash = address.indexOf('/');
        const base = slash < 0 ? address : address.slice(0, slash);
        const list = index.get(base);
        if (list) list.push(address);
        else index.set(base, [address]);
      }
      this.parts.set(kind, index);
    }
    return index.get(resource) ?? [];
  }

  namespace(name: string | null): KNamespace | undefined {
    return name === null ? this.state.root : this.state.namespaces.get(name);
  }

  link(ns: string | null, ifname: string): KLink | undefined {
    return this.namespace(ns)?.links.find((l) => l.ifname === ifname);
  }

  /** The owned link with this mark in this namespace (undefined ns: anywhere). */
  owned(address: string, ns?: string | null): KLink | undefined {
    const list = this.ownedLinks.get(address);
    if (!list) return undefined;
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
    if (ns.leftover) {
      if (this.nsAddress.get(name) === address) return undefined;
      return `a leftover file /run/netns/${name} with no namespace mounted on it, which no interrupted tsnet run of this topology was making (remove it with "ip netns del ${name}", or "rm /run/netns/${name}", and plan again)`;
    }
    const mark = parseMark(ns.links.find((l) => l.ifname === 'lo')?.alias);
    if (!mark) return `a foreign namespace "${name}" (not made by tsnet)`;
    if (mark.topology !== this.topology) return `namespace "${name}", owned by topology "${mark.topology}" (${mark.address})`;
    if (mark.address !== address && !this.ownedNs.has(mark.address)) return `namespace "${name}", owned by ${mark.address} of this topology on another host`;
    return undefined;
  }
}
