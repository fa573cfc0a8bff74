// Isolation, internal networks and published ports (issue 15): rules in tsnet's own nftables
// table `inet tsnet-<topology>`, beside the NAT chains (nat.ts), one chain per purpose and
// network:
//   isolation-<net>  filter/forward   what enters from <net>: allows, then a drop per other network
//   internal-<net>   filter/forward   an internal <net>: allows, then nothing in or out
//   dnat-<net>       nat/prerouting   published ports of <net>'s sandboxes, from outside and from sandboxes
//   hostdnat-<net>   nat/output       the same from the host itself (and 127.0.0.1 where asked)
//   hairpin-<net>    nat/postrouting  masquerade for a sandbox reaching a neighbour's or its own port through
//                                    the host, and for connections from 127.0.0.1
// Each rule carries the comment mark of the resource it belongs to (`port.web.8080/tcp`,
// `isolation.front.back`, `internal.db`, `allow.front.back.5432/tcp`, `hairpin.front`), which is
// what the plan lists; the rules are compared with what nft prints (state/nft.ts ruleText), so a
// rule edited or deleted by hand is drift. All of a host's chain changes are ONE step, so one
// `nft -f` transaction (with the NAT chains' own steps, which run in the same batch).
import type { Spec } from '../planner/desired.js';
import type { HostPlan, StepDep } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import type { Firewall, FirewallNetwork, AllowRule, PublishedPort } from '../model/firewall.js';
import { isLoopback } from '../model/firewall.js';
import type { Family, Topology } from '../model/types.js';
import { NAT_FAMILY, natChainNetwork, natTableName } from '../state/nft.js';
import { parseMark } from '../state/ownership.js';
import type { KNatChain, KNatTable } from '../state/types.js';
import { cmd, mark } from './common.js';
import type { PlanContext, ResourceApplier } from './types.js';

// ------------------------------------------------------------------ specs

/** One rule: the resource it belongs to, its chain, and its text as nft prints it (no comment). */
export interface FirewallRule {
  address: string;
  chain: string;
  text: string;
}

/** What the plan lists: one line per resource. */
export interface FirewallItem {
  address: string;
  summary: string;
}

/**
 * A host's rules in tsnet's table: one spec per host (address "firewall"); each resource's
 * change holds the part that is its own (address, items and rules of that resource).
 */
export interface FirewallSpec {
  kind: 'firewall';
  host: string;
  address: string;
  table: string;
  items: FirewallItem[];
  rules: FirewallRule[];
  /** Bridges whose route_localnet must be 1 (ports published on 127.0.0.1), by network. */
  localnet: { network: string; bridge: string }[];
  /** The host side of each published port (for the check against listening sockets). */
  ports: { address: string; hostIp?: string; family?: Family; hostPort: number; proto: 'tcp' | 'udp' }[];
}

/** Type, hook and priority of each purpose's chains, as `nft -j` prints them. */
const BASES = {
  isolation: 'filter/forward/0',
  internal: 'filter/forward/0',
  dnat: 'nat/prerouting/-100',
  hostdnat: 'nat/output/-100',
  hairpin: 'nat/postrouting/100',
} as const;
type Purpose = keyof typeof BASES;

/** The `add chain` declaration of each purpose (priorities by name where nft has one). */
const DECL: Record<Purpose, string[]> = {
  isolation: ['type', 'filter', 'hook', 'forward', 'priority', 'filter', ';', 'policy', 'accept', ';'],
  internal: ['type', 'filter', 'hook', 'forward', 'priority', 'filter', ';', 'policy', 'accept', ';'],
  dnat: ['type', 'nat', 'hook', 'prerouting', 'priority', 'dstnat', ';', 'policy', 'accept', ';'],
  hostdnat: ['type', 'nat', 'hook', 'output', 'priority', '-100', ';', 'policy', 'accept', ';'],
  hairpin: ['type', 'nat', 'hook', 'postrouting', 'priority', 'srcnat', ';', 'policy', 'accept', ';'],
};

const CHAIN = /^(isolation|internal|dnat|hostdnat|hairpin)-([A-Za-z0-9][A-Za-z0-9_-]*)$/;

/** The purpose of a chain of tsnet's table; undefined for a chain this module did not make. */
export const firewallPurpose = (chain: string): Purpose | undefined => CHAIN.exec(chain)?.[1] as Purpose | undefined;

const chainOf = (purpose: Purpose, network: string) => `${purpose}-${network}`;

const NOT_REPLY = 'ct state != { established, related }';
const ip = (f: Family) => (f === 4 ? 'ip' : 'ip6');

function isolationRules(fw: Firewall, nets: FirewallNetwork[], out: FirewallSpec): void {
  if (!fw.isolation) return;
  for (const a of nets) {
    for (const b of nets) {
      if (a === b) continue;
      const address = `isolation.${a.name}.${b.name}`;
      out.items.push({ address, summary: `${a.name} -/-> ${b.name}: drop what the host forwards from ${a.bridge} to ${b.bridge}` });
      out.rules.push({ address, chain: chainOf('isolation', a.name), text: `iifname "${a.bridge}" oifname "${b.bridge}" ${NOT_REPLY} drop` });
    }
  }
}

function internalRules(nets: FirewallNetwork[], out: FirewallSpec): void {
  for (const n of nets.filter((x) => x.internal)) {
    const address = `internal.${n.name}`;
    out.items.push({ address, summary: `${n.name} is internal: nothing forwarded into or out of ${n.bridge}` });
    const chain = chainOf('internal', n.name);
    out.rules.push({ address, chain, text: `iifname "${n.bridge}" oifname != "${n.bridge}" ${NOT_REPLY} drop` });
    out.rules.push({ address, chain, text: `oifname "${n.bridge}" iifname != "${n.bridge}" ${NOT_REPLY} drop` });
  }
}

/** The matches of an allow between two places, one line per address pair and family. */
function allowMatches(a: AllowRule, from: AllowRule['fromAt'][number], to: AllowRule['toAt'][number]): string[] {
  const port = a.port ? ` ${a.port.proto} dport ${a.port.number}` : '';
  const head = `iifname "${from.bridge}" oifname "${to.bridge}"`;
  if (from.addresses === null && to.addresses === null) return [`${head}${port} accept`];
  const lines: string[] = [];
  for (const f of [4, 6] as const) {
    if (!from.families.includes(f) || !to.families.includes(f)) continue;
    const of = (list: string[] | null) => (list === null ? [undefined] : list.filter((x) => x.includes(':') === (f === 6)));
    for (const s of of(from.addresses)) {
      for (const d of of(to.addresses)) {
        lines.push(`${head}${s ? ` ${ip(f)} saddr ${s}` : ''}${d ? ` ${ip(f)} daddr ${d}` : ''}${port} accept`);
      }
    }
  }
  return lines;
}

function allowRules(fw: Firewall, onHost: Map<string, FirewallNetwork>, out: FirewallSpec): void {
  for (const a of fw.allow) {
    const rules: FirewallRule[] = [];
    for (const from of a.fromAt) {
      for (const to of a.toAt) {
        if (from.network === to.network || !onHost.has(from.network) || !onHost.has(to.network)) continue;
        // The accept must sit in every chain that would drop this traffic (an accept ends one chain only).
        const chains = [
          ...(fw.isolation ? [chainOf('isolation', from.network)] : []),
          ...(onHost.get(from.network)!.internal ? [chainOf('internal', from.network)] : []),
          ...(onHost.get(to.network)!.internal ? [chainOf('internal', to.network)] : []),
        ];
        for (const text of allowMatches(a, from, to)) for (const chain of chains) rules.push({ address: a.address, chain, text });
      }
    }
    if (!rules.length) continue;
    out.items.push({ address: a.address, summary: `${a.from} -> ${a.to}${a.port ? ` ${a.port.number}/${a.port.proto}` : ''}: let through` });
    out.rules.push(...rules);
  }
}

function portRules(p: PublishedPort, out: FirewallSpec): void {
  const rules: FirewallRule[] = [];
  for (const t of p.targets) {
    const to = `dnat ${ip(t.family)} to ${t.family === 6 ? `[${t.ip}]` : t.ip}:${p.port}`;
    const dport = `${p.proto} dport ${p.hostPort}`;
    if (p.hostIp !== undefined && isLoopback(p.hostIp)) {
      rules.push({ address: p.address, chain: chainOf('hostdnat', p.network), text: `${ip(t.family)} daddr ${p.hostIp} ${dport} ${to}` });
      continue;
    }
    const match = p.hostIp !== undefined ? `${ip(t.family)} daddr ${p.hostIp}` : `fib daddr type local ${ip(t.family)} daddr != ${t.family === 4 ? '127.0.0.0/8' : '::1'}`;
    for (const purpose of ['dnat', 'hostdnat'] as const) rules.push({ address: p.address, chain: chainOf(purpose, p.network), text: `${match} ${dport} ${to}` });
  }
  const where = p.hostIp === undefined ? (p.family ? `every IPv${p.family} address of the host` : 'the host\'s addresses') : p.hostIp;
  out.items.push({ address: p.address, summary: `${where} port ${p.hostPort}/${p.proto} -> ${p.sandbox} ${p.targets.map((t) => (t.family === 6 ? `[${t.ip}]` : t.ip)).join(', ')} port ${p.port}` });
  out.rules.push(...rules);
}

function hairpinRules(ports: PublishedPort[], net: FirewallNetwork, out: FirewallSpec): void {
  const mine = ports.filter((p) => p.network === net.name);
  if (!mine.length) return;
  const address = `hairpin.${net.name}`;
  const chain = chainOf('hairpin', net.name);
  out.items.push({ address, summary: `masquerade connections to published ports from ${net.name} itself${mine.some((p) => p.hostIp === '127.0.0.1' || p.hostIp?.startsWith('127.')) ? ' and from 127.0.0.0/8' : ''}` });
  out.rules.push({ address, chain, text: `iifname "${net.bridge}" oifname "${net.bridge}" ct status dnat masquerade` });
  // A sandbox reaching its own port: with br_netfilter the packet DNATed on the bridge reaches
  // postrouting without an input device, so it is matched by its addresses, as Docker does.
  // Masqueraded, the answer comes back through the host (the bridge port's hairpin mode).
  const own = new Map(mine.flatMap((p) => p.targets.map((t) => [`${ip(t.family)} saddr ${t.ip} ${ip(t.family)} daddr ${t.ip}`, t] as const)));
  for (const match of own.keys()) out.rules.push({ address, chain, text: `oifname "${net.bridge}" ${match} ct status dnat masquerade` });
  if (mine.some((p) => p.hostIp !== undefined && p.family === 4 && isLoopback(p.hostIp))) {
    out.rules.push({ address, chain, text: `oifname "${net.bridge}" ip saddr 127.0.0.0/8 masquerade` });
    out.localnet.push({ network: net.name, bridge: net.bridge });
  }
}

/** The firewall specs of a topology: one per host that needs rules. */
export function expandFirewall(t: Topology): Spec[] {
  const fw = t.firewall;
  if (!fw) return [];
  const specs: Spec[] = [];
  for (const host of t.hosts.keys()) {
    const nets = fw.networks.filter((n) => n.hosts.includes(host));
    const spec: FirewallSpec = { kind: 'firewall', host, address: 'firewall', table: natTableName(t.name), items: [], rules: [], localnet: [], ports: [] };
    isolationRules(fw, nets, spec);
    internalRules(nets, spec);
    allowRules(fw, new Map(nets.map((n) => [n.name, n])), spec);
    const ports = fw.ports.filter((p) => p.host === host);
    for (const p of ports) portRules(p, spec);
    spec.ports = ports.map((p) => ({ address: p.address, hostPort: p.hostPort, proto: p.proto, ...(p.hostIp !== undefined ? { hostIp: p.hostIp } : {}), ...(p.family !== undefined ? { family: p.family } : {}) }));
    for (const n of nets) hairpinRules(ports, n, spec);
    if (spec.rules.length) specs.push(spec);
  }
  return specs;
}

// ------------------------------------------------------------------ nft lines

const SEP = '\u0000';

/** A rule's text as argv tokens of an nft script line (quoted names, set braces and commas kept). */
const tokens = (text: string): string[] => text.split(' ');

const addRule = (table: string, chain: string, text: string, comment: string | undefined): string[] => [
  'add', 'rule', NAT_FAMILY, table, chain, ...tokens(text), ...(comment ? ['comment', `"${comment}"`] : []),
];
const addChain = (table: string, chain: string, purpose: Purpose): string[] => ['add', 'chain', NAT_FAMILY, table, chain, '{', ...DECL[purpose], '}'];
const flushChain = (table: string, chain: string): string[] => ['flush', 'chain', NAT_FAMILY, table, chain];
const deleteChain = (table: string, chain: string): string[] => ['delete', 'chain', NAT_FAMILY, table, chain];
const chainRef = (host: string, name: string): ObjectRef => ({ kind: 'nft-chain', host, ns: null, name });

/** A chain's rules as held: text and comment, in order (rules nft cannot be asked to write again are left out). */
const heldLines = (c: KNatChain) => c.rules.flatMap((r) => (r.text !== undefined ? [{ text: r.text, comment: r.comment }] : []));

/** The lines that make a chain of this module again as it is now (for rollback). */
export function rebuildFirewallChain(table: string, c: KNatChain): string[][] {
  const purpose = firewallPurpose(c.name);
  if (!purpose) return [];
  return [addChain(table, c.name, purpose), ...heldLines(c).map((r) => addRule(table, c.name, r.text, r.comment))];
}

/** The firewall chains of tsnet's table as read. */
export const firewallChains = (state: KNatTable | null | undefined): KNatChain[] => (state?.chains ?? []).filter((c) => firewallPurpose(c.name) !== undefined);

/** Chains of tsnet's table that neither NAT nor this module made (a user's): the table then stays. */
export const foreignChains = (state: KNatTable | null | undefined): KNatChain[] =>
  (state?.chains ?? []).filter((c) => natChainNetwork(c.name) === undefined && firewallPurpose(c.name) === undefined);

/** tsnet's table goes (with its last chain): nothing of it is wanted and no one else's chain is in it. */
export function tableGoes(ctx: PlanContext): boolean {
  const state = ctx.view.state.nat;
  if (!state) return false;
  const wanted = [...ctx.desired.values()].some((s) => s.kind === 'nat' || s.kind === 'firewall');
  return !wanted && !foreignChains(state).length;
}

// ------------------------------------------------------------------ planning

interface Held {
  chain: string;
  text?: string;
  handle: number;
}

/** Describes a resource of this module from its address alone (for one the file no longer names). */
function describe(address: string): string {
  const [kind, ...rest] = address.split('.');
  if (kind === 'isolation') return `${rest[0]} -/-> ${rest[1]}`;
  if (kind === 'internal') return `${rest[0]} is internal`;
  if (kind === 'allow') return `${rest[0]} -> ${rest[1]}${rest[2] ? ` ${rest.slice(2).join('.')}` : ''}: let through`;
  if (kind === 'port') return `published port ${rest.slice(1).join('.')} of ${rest[0]}`;
  if (kind === 'hairpin') return `masquerade for published ports of ${rest[0]}`;
  return address;
}

/** Reasons per resource: what of its rules is missing, extra or changed by hand. */
function diffResource(want: FirewallRule[], have: Held[]): string[] {
  const reasons: string[] = [];
  const left = new Map<string, number>();
  for (const r of want) left.set(r.chain + SEP + r.text, (left.get(r.chain + SEP + r.text) ?? 0) + 1);
  for (const h of have) {
    if (h.text === undefined) {
      reasons.push(`rule (handle ${h.handle}) in chain ${h.chain} was changed by hand`);
      continue;
    }
    const k = h.chain + SEP + h.text;
    const n = left.get(k) ?? 0;
    if (n > 0) left.set(k, n - 1);
    else reasons.push(`rule "${h.text}" in chain ${h.chain} is not in the topology`);
  }
  for (const [k, n] of left) if (n > 0) reasons.push(`rule "${k.split(SEP)[1]}" in chain ${k.split(SEP)[0]} missing`);
  return reasons;
}

/** The rules of each wanted chain, in order: accepts (allows) before drops, each as the file gives them. */
function wantedChains(want: FirewallSpec | undefined): Map<string, FirewallRule[]> {
  const chains = new Map<string, FirewallRule[]>();
  for (const r of want?.rules ?? []) chains.set(r.chain, [...(chains.get(r.chain) ?? []), r]);
  for (const [name, rules] of chains) chains.set(name, [...rules.filter((r) => r.text.endsWith(' accept')), ...rules.filter((r) => !r.text.endsWith(' accept'))]);
  return chains;
}

class FirewallHost {
  readonly table: string;
  readonly state: KNatTable | null;
  readonly held: Map<string, KNatChain>;
  readonly chains: Map<string, FirewallRule[]>;
  constructor(
    readonly ctx: PlanContext,
    readonly out: HostPlan,
    readonly want: FirewallSpec | undefined,
  ) {
    this.table = natTableName(ctx.topology);
    this.state = ctx.view.state.nat ?? null;
    this.held = new Map(firewallChains(this.state).map((c) => [c.name, c]));
    this.chains = wantedChains(want);
  }

  /** Is the chain as held exactly what is wanted (base, rules, order, marks)? */
  chainMatches(name: string): boolean {
    const h = this.held.get(name);
    const w = this.chains.get(name);
    if (!h || !w) return !h && !w;
    if (h.base !== BASES[firewallPurpose(name)!]) return false;
    if (h.rules.length !== w.length) return false;
    return h.rules.every((r, i) => r.text === w[i]!.text && r.comment === mark(this.ctx, w[i]!.address));
  }

  /** The network whose bridge (owned by this topology) has this name. */
  networkOfBridge(bridge: string): string | undefined {
    for (const [address, links] of this.ctx.view.ownedLinks) {
      if (address.startsWith('network.') && links.some((l) => l.ns === null && l.ifname === bridge)) return address.slice('network.'.length);
    }
    return undefined;
  }

  /** The resource a held rule belongs to: its mark's, when the mark is this topology's. */
  ownerOf(comment: string | undefined): string | undefined {
    const m = comment ? parseMark(comment) : undefined;
    return m && m.topology === this.ctx.topology ? m.address : undefined;
  }
}

/** One change line per resource: created, updated (with reasons) or deleted. */
function planChanges(f: FirewallHost): void {
  const wantBy = new Map<string, FirewallRule[]>();
  for (const r of f.want?.rules ?? []) wantBy.set(r.address, [...(wantBy.get(r.address) ?? []), r]);
  const haveBy = new Map<string, Held[]>();
  const orphans: Held[] = [];
  for (const c of f.held.values()) {
    for (const r of c.rules) {
      const owner = f.ownerOf(r.comment);
      const held: Held = { chain: c.name, handle: r.handle, ...(r.text !== undefined ? { text: r.text } : {}) };
      if (owner) haveBy.set(owner, [...(haveBy.get(owner) ?? []), held]);
      else orphans.push(held);
    }
  }
  const summaries = new Map((f.want?.items ?? []).map((i) => [i.address, i.summary]));
  const firstIn = (chain: string) => f.want?.rules.find((r) => r.chain === chain)?.address;
  const extra = new Map<string, string[]>();
  const addExtra = (address: string, reason: string) => extra.set(address, [...(extra.get(address) ?? []), reason]);
  for (const o of orphans) {
    const owner = firstIn(o.chain);
    if (owner) addExtra(owner, `rule (handle ${o.handle}) in chain ${o.chain} ${o.text !== undefined ? `("${o.text}") has no mark of this topology` : 'was changed by hand'}`);
  }
  for (const name of new Set([...f.chains.keys(), ...f.held.keys()])) {
    const h = f.held.get(name);
    const owner = firstIn(name);
    if (!h || !owner) continue;
    const base = BASES[firewallPurpose(name)!];
    if (h.base !== base) addExtra(owner, `chain ${name} is ${h.base ?? 'a regular chain'}, not ${base}`);
    else if (!f.chainMatches(name) && !diffChainContent(f, name)) addExtra(owner, `rules of chain ${name} are out of order`);
  }
  const addresses = [...new Set([...wantBy.keys(), ...haveBy.keys(), ...extra.keys()])].sort();
  for (const address of addresses) {
    const r = f.out.resource(address, 'firewall');
    const want = wantBy.get(address);
    const have = haveBy.get(address) ?? [];
    if (want && f.want) r.want = { ...f.want, address, items: f.want.items.filter((i) => i.address === address), rules: want, localnet: [], ports: f.want.ports.filter((p) => p.address === address) };
    r.have = { address, rules: have.map((h) => ({ chain: h.chain, handle: h.handle, ...(h.text !== undefined ? { text: h.text } : {}) })) };
    if (!want) {
      r.setChange('delete', describe(address), ['not in the topology any more']);
      continue;
    }
    if (!have.length) {
      r.setChange('create', summaries.get(address) ?? describe(address), []);
      continue;
    }
    const reasons = [...diffResource(want, have), ...(extra.get(address) ?? [])];
    if (reasons.length) r.setChange('update', summaries.get(address) ?? describe(address), reasons);
  }
}

/** Whether a chain's content (rules as a multiset, with marks) differs, order aside. */
function diffChainContent(f: FirewallHost, name: string): boolean {
  const key = (text: string | undefined, comment: string | undefined) => `${text ?? '?'}${SEP}${comment ?? ''}`;
  const have = (f.held.get(name)?.rules ?? []).map((r) => key(r.text, r.comment)).sort();
  const want = (f.chains.get(name) ?? []).map((r) => key(r.text, mark(f.ctx, r.address))).sort();
  return have.length !== want.length || have.some((k, i) => k !== want[i]);
}

/** The one step of the host: every chain that differs is written again, in one nft transaction. */
function planStep(f: FirewallHost): void {
  const { table } = f;
  const host = f.ctx.host;
  const doLines: string[][] = [];
  const undo: Command[] = [];
  const creates: ObjectRef[] = [];
  const deletes: ObjectRef[] = [];
  for (const name of [...new Set([...f.chains.keys(), ...f.held.keys()])].sort()) {
    if (f.chainMatches(name)) continue;
    const purpose = firewallPurpose(name)!;
    const h = f.held.get(name);
    const w = f.chains.get(name);
    const sameBase = h?.base === BASES[purpose];
    if (h && (!w || !sameBase)) {
      doLines.push(flushChain(table, name), deleteChain(table, name));
      deletes.push(chainRef(host, name));
    }
    if (w) {
      if (!h || !sameBase) {
        doLines.push(addChain(table, name, purpose));
        creates.push(chainRef(host, name));
      } else doLines.push(flushChain(table, name));
      doLines.push(...w.map((r) => addRule(table, name, r.text, mark(f.ctx, r.address))));
    }
    // Undo: the chain as it was, or gone when it was not there.
    if (w && (!h || !sameBase)) undo.push(cmd(host, null, flushChain(table, name), { tool: 'nft' }), cmd(host, null, deleteChain(table, name), { tool: 'nft' }));
    if (h && (!w || !sameBase)) undo.push(...rebuildFirewallChain(table, h).map((l) => cmd(host, null, l, { tool: 'nft' })));
    else if (h) undo.push(cmd(host, null, flushChain(table, name), { tool: 'nft' }), ...heldLines(h).map((r) => cmd(host, null, addRule(table, name, r.text, r.comment), { tool: 'nft' })));
  }
  if (!doLines.length) return;
  const after: StepDep[] = [];
  if (f.state === null) {
    // The table is made by NAT's first chain when NAT is wanted (same batch, so one transaction), else here.
    const nat = [...f.ctx.desired.values()].filter((s) => s.kind === 'nat').map((s) => s.address).sort();
    if (nat.length) after.push({ address: nat[0]!, phase: 'create' });
    else {
      doLines.unshift(['add', 'table', NAT_FAMILY, table]);
      creates.unshift({ kind: 'nft-table', host, ns: null, name: table });
      undo.length = 0;
      undo.push(cmd(host, null, ['delete', 'table', NAT_FAMILY, table], { tool: 'nft' }));
    }
  }
  f.out.resource('firewall', 'firewall').step({
    phase: 'rules',
    ns: null,
    tool: 'nft',
    action: f.state === null ? 'create' : 'update',
    description: `write the filter and port rules of nftables table ${NAT_FAMILY} ${table}`,
    do: doLines,
    undo,
    creates,
    deletes,
    after,
  });
}

/** route_localnet on a bridge whose sandboxes publish on 127.0.0.1: planned, and set back when no longer needed. */
function planLocalnet(f: FirewallHost): void {
  const { ctx, out } = f;
  const wanted = new Map((f.want?.localnet ?? []).map((l) => [l.bridge, l.network]));
  const key = (bridge: string) => `net.ipv4.conf.${bridge}.route_localnet`;
  const sysctls = ctx.view.state.root.sysctls;
  const held = Object.keys(sysctls).flatMap((k) => {
    const m = /^net\.ipv4\.conf\.(.+)\.route_localnet$/.exec(k);
    return m && sysctls[k] === '1' && ctx.view.owned(`network.${f.networkOfBridge(m[1]!) ?? ''}`, null) ? [m[1]!] : [];
  });
  for (const [bridge, network] of wanted) {
    if (sysctls[key(bridge)] === '1') continue;
    const r = out.resource(`localnet.${network}`, 'firewall');
    if (f.want) r.want = { ...f.want, address: `localnet.${network}`, items: [], rules: [], localnet: [{ network, bridge }], ports: [] };
    r.setChange('create', `net.ipv4.conf.${bridge}.route_localnet=1: ${bridge} may carry 127.0.0.1 to published ports`, []);
    r.step({
      phase: 'sysctl',
      ns: null,
      tool: 'sysctl',
      action: 'create',
      description: `set ${key(bridge)}=1`,
      do: [[`${key(bridge)}=1`]],
      undo: sysctls[key(bridge)] === undefined ? [] : [cmd(ctx.host, null, [`${key(bridge)}=${sysctls[key(bridge)]}`], { tool: 'sysctl' })],
      after: [{ address: `network.${network}`, phase: 'create' }],
    });
  }
  for (const bridge of held) {
    const network = f.networkOfBridge(bridge)!;
    // A bridge the plan deletes takes its sysctl along.
    if (wanted.has(bridge) || !ctx.desired.has(`network.${network}`)) continue;
    const r = out.resource(`localnet.${network}`, 'firewall');
    r.have = { address: `localnet.${network}`, sysctl: { [key(bridge)]: '1' } };
    r.setChange('delete', `net.ipv4.conf.${bridge}.route_localnet=1`, ['no port of the network is published on 127.0.0.1 any more: set back to 0']);
    r.step({ phase: 'sysctl', ns: null, tool: 'sysctl', action: 'delete', description: `set ${key(bridge)}=0`, do: [[`${key(bridge)}=0`]], undo: [cmd(ctx.host, null, [`${key(bridge)}=1`], { tool: 'sysctl' })] });
  }
}

/** A published port something on the host already listens on: its traffic would be taken away from it. */
function planListeners(ctx: PlanContext, out: HostPlan, want: FirewallSpec | undefined): void {
  const listeners = ctx.view.state.listeners;
  if (!want || !listeners) return;
  for (const p of want.ports) {
    for (const l of listeners) {
      if (l.proto !== p.proto || l.port !== p.hostPort || !listenerTaken(l.address, p)) continue;
      out.resource(p.address, 'firewall').error(`host port ${p.hostPort}/${p.proto} is in use on host "${ctx.host}": ${l.process ?? 'a process'} listens on ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`);
      break;
    }
  }
}

/** Whether a socket bound to `address` would lose the traffic a publish takes. */
function listenerTaken(address: string, p: FirewallSpec['ports'][number]): boolean {
  const family = address.includes(':') ? 6 : 4;
  if (address === '*' || address === '::') return true; // dual-stack by default: IPv4 too
  if (address === '0.0.0.0') return p.family !== 6;
  if (p.hostIp !== undefined) return p.hostIp === address;
  return (p.family === undefined || p.family === family) && !isLoopback(address);
}

/** Plans a host's firewall: one change per resource, one nft step, route_localnet. */
function planFirewallHost(ctx: PlanContext, out: HostPlan): void {
  const want = ctx.desired.get('firewall') as FirewallSpec | undefined;
  if (want) out.resource('firewall', 'firewall').want = want;
  const state = ctx.view.state.nat;
  if (state === undefined || (want && state === null && ctx.view.state.natUnavailable)) {
    if (!want) return;
    const why = state === undefined ? `the nftables state of host "${ctx.host}" was not read` : `isolation, internal networks and published ports need nftables on host "${ctx.host}": ${ctx.view.state.natUnavailable}`;
    for (const i of want.items) out.resource(i.address, 'firewall').error(why);
    return;
  }
  const f = new FirewallHost(ctx, out, want);
  planChanges(f);
  planListeners(ctx, out, want);
  planLocalnet(f);
  // When the table goes, its deletion (nat.ts) takes these chains along and its undo makes them again.
  if (!tableGoes(ctx)) planStep(f);
}

export const firewall: ResourceApplier = { kind: 'firewall', planHost: planFirewallHost };
