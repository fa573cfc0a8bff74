// NAT of bridge networks (`nat: true`): per network a postrouting nat chain `nat-<network>` in
// tsnet's own nftables table `inet tsnet-<topology>`, with one rule per subnet:
//   ip saddr 198.18.10.0/24 oifname != "tsn-web" masquerade comment "tsnet:<topology>:nat.web"
// The table is tsnet's by construction; no other table is ever touched. The table is made with
// the first chain and removed with the last one, unless it holds a chain tsnet did not make.
import type { NatRuleSpec, NatSpec } from '../planner/desired.js';
import type { Command } from '../planner/types.js';
import { NAT_CHAIN_BASE, NAT_FAMILY, natChainNetwork } from '../state/nft.js';
import type { KNatChain, KNatTable } from '../state/types.js';
import type { HostPlan, ResourcePlan, StepDep } from '../planner/host-plan.js';
import { natTableName } from '../state/nft.js';
import { cmd, mark } from './common.js';
import { firewallChains, foreignChains, rebuildFirewallChain, tableGoes } from './firewall.js';
import type { PlanContext, ResourceApplier } from './types.js';
import type { ObjectRef, StepRef } from '../planner/types.js';

const nft = (host: string, argv: string[]) => cmd(host, null, argv, { tool: 'nft' });
const chainRef = (host: string, name: string): ObjectRef => ({ kind: 'nft-chain', host, ns: null, name });

const ruleKey = (r: NatRuleSpec) => `${r.family} ${r.subnet} ${r.notOut}`;

const ruleText = (r: NatRuleSpec) => `masquerade ${r.subnet} leaving by any interface but ${r.notOut}`;

/** `add rule` argv for one rule (nft script tokens; names quoted where nft allows it). */
function addRule(ctx: PlanContext, table: string, chain: string, address: string, r: NatRuleSpec): string[] {
  return ['add', 'rule', NAT_FAMILY, table, chain, r.family === 4 ? 'ip' : 'ip6', 'saddr', r.subnet, 'oifname', '!=', `"${r.notOut}"`, 'masquerade', 'comment', `"${mark(ctx, address)}"`];
}

const addChain = (table: string, chain: string): string[] => ['add', 'chain', NAT_FAMILY, table, chain, '{', 'type', 'nat', 'hook', 'postrouting', 'priority', 'srcnat', ';', '}'];
const flushChain = (table: string, chain: string): string[] => ['flush', 'chain', NAT_FAMILY, table, chain];
const deleteChain = (table: string, chain: string): string[] => ['delete', 'chain', NAT_FAMILY, table, chain];

/** The rules a chain holds in tsnet's shape; the rest (changed by hand) cannot be put back. */
const heldRules = (c: KNatChain): NatRuleSpec[] => c.rules.filter((r) => r.understood).map((r) => ({ family: r.family, subnet: r.subnet, notOut: r.notOut }));

const summary = (table: string, chain: string, rules: readonly NatRuleSpec[]) =>
  `nftables ${NAT_FAMILY} ${table} chain ${chain}: ${rules.map((r) => `masquerade ${r.subnet} not via ${r.notOut}`).join(', ') || 'no rules'}`;

/** What the NAT of one host is planned from: the table as read, what the file wants, and the table's step. */
class NatHost {
  readonly wanted: NatSpec[];
  readonly chains: Map<string, KNatChain>;
  /** Chains tsnet made (named after a network), and chains of anyone else in its table. */
  readonly ours: KNatChain[];
  readonly foreign: KNatChain[];
  /** The first step that makes the table (when there is none), which the other chains wait for. */
  tableStep?: StepRef;

  constructor(
    readonly ctx: PlanContext,
    readonly out: HostPlan,
    readonly table: string,
    /** The table as read: null when there is none. */
    readonly state: KNatTable | null,
  ) {
    this.wanted = [...ctx.desired.values()].filter((s): s is NatSpec => s.kind === 'nat');
    this.chains = new Map((state?.chains ?? []).map((c) => [c.name, c]));
    this.ours = [...this.chains.values()].filter((c) => natChainNetwork(c.name) !== undefined);
    this.foreign = foreignChains(state);
  }

  get host(): string {
    return this.ctx.host;
  }

  resource(address: string): ResourcePlan {
    return this.out.resource(address, 'nat');
  }

  /** The table goes with the last chain of ours (NAT's and the firewall's), unless it holds someone else's. */
  get tableGoes(): boolean {
    return tableGoes(this.ctx);
  }

  /** The commands that put a chain of ours back as it was (its rules in tsnet's shape). */
  rebuild(c: KNatChain, address: string): Command[] {
    return [nft(this.host, addChain(this.table, c.name)), ...heldRules(c).map((r) => nft(this.host, addRule(this.ctx, this.table, c.name, address, r)))];
  }
}

/** The chain as read, as a spec (its rules those in tsnet's shape). */
const observedChain = (n: NatHost, c: KNatChain, address: string): NatSpec => ({ kind: 'nat', host: n.host, address, table: n.table, chain: c.name, rules: heldRules(c) });

/** Chains of ours the file no longer wants (or wants with another base): deleted, with the table when it goes. */
function deleteChains(n: NatHost): void {
  const wantedChains = new Set(n.wanted.map((w) => w.chain));
  for (const c of n.ours) {
    const address = `nat.${natChainNetwork(c.name)}`;
    const r = n.resource(address);
    r.have = observedChain(n, c, address);
    if (wantedChains.has(c.name) && c.base === NAT_CHAIN_BASE) continue;
    const replacing = wantedChains.has(c.name);
    if (!replacing) r.setChange('delete', summary(n.table, c.name, heldRules(c)), ['not in the topology any more']);
    if (n.tableGoes) continue; // the table's deletion takes the chain along
    r.step({
      phase: 'delete',
      ns: null,
      tool: 'nft',
      action: replacing ? 'replace' : 'delete',
      deletion: true,
      description: `delete nftables chain ${c.name}`,
      do: [flushChain(n.table, c.name), deleteChain(n.table, c.name)],
      deletes: [chainRef(n.host, c.name)],
      undo: n.rebuild(c, address),
    });
  }
  if (!n.tableGoes) return;
  n.resource('nat').step({
    phase: 'delete',
    ns: null,
    tool: 'nft',
    action: 'delete',
    deletion: true,
    description: `delete nftables table ${NAT_FAMILY} ${n.table}`,
    do: [['delete', 'table', NAT_FAMILY, n.table]],
    deletes: [{ kind: 'nft-table', host: n.host, ns: null, name: n.table }],
    undo: [
      nft(n.host, ['add', 'table', NAT_FAMILY, n.table]),
      ...n.ours.flatMap((c) => n.rebuild(c, `nat.${natChainNetwork(c.name)}`)),
      ...firewallChains(n.state).flatMap((c) => rebuildFirewallChain(n.table, c).map((l) => nft(n.host, l))),
    ],
  });
}

/** A wanted chain that is not there (or has another base): made, with the table if there is none yet. */
function createChain(n: NatHost, w: NatSpec, have: KNatChain | undefined): void {
  const makesTable = n.state === null && !n.tableStep;
  const lines = [...(makesTable ? [['add', 'table', NAT_FAMILY, n.table]] : []), addChain(n.table, w.chain), ...w.rules.map((r) => addRule(n.ctx, n.table, w.chain, w.address, r))];
  const undo = [nft(n.host, flushChain(n.table, w.chain)), nft(n.host, deleteChain(n.table, w.chain)), ...(makesTable ? [nft(n.host, ['delete', 'table', NAT_FAMILY, n.table])] : [])];
  const creates: ObjectRef[] = [...(makesTable ? [{ kind: 'nft-table' as const, host: n.host, ns: null, name: n.table }] : []), chainRef(n.host, w.chain)];
  const after: StepDep[] = have ? [{ address: w.address, phase: 'delete' }] : n.tableStep ? [n.tableStep] : [];
  const r = n.resource(w.address);
  const ref = r.step({ phase: 'create', ns: null, tool: 'nft', action: have ? 'replace' : 'create', description: `create nftables chain ${w.chain}`, do: lines, creates, undo, after });
  n.tableStep ??= ref;
  r.setChange(have ? 'replace' : 'create', summary(n.table, w.chain, w.rules), have ? [`chain ${w.chain} is ${have.base ?? 'a regular chain'}, not ${NAT_CHAIN_BASE} (forces replacement)`] : []);
}

/** The chain is there: its rules must be exactly the wanted ones, in tsnet's shape. */
function updateChain(n: NatHost, w: NatSpec, have: KNatChain): void {
  const want = new Set(w.rules.map(ruleKey));
  const reasons: string[] = [];
  const seen = new Set<string>();
  for (const r of have.rules) {
    const key = r.understood ? ruleKey(r) : '';
    if (!r.understood) reasons.push(`rule (handle ${r.handle}) was changed by hand`);
    else if (!want.has(key)) reasons.push(`rule "${ruleText(r)}" is not in the topology`);
    else if (seen.has(key)) reasons.push(`rule "${ruleText(r)}" is there twice`);
    seen.add(key);
  }
  for (const r of w.rules) if (!seen.has(ruleKey(r))) reasons.push(`rule "${ruleText(r)}" missing`);
  if (!reasons.length) return;
  const r = n.resource(w.address);
  r.step({
    phase: 'update',
    ns: null,
    tool: 'nft',
    action: 'update',
    description: `update nftables chain ${w.chain}`,
    do: [flushChain(n.table, w.chain), ...w.rules.map((rule) => addRule(n.ctx, n.table, w.chain, w.address, rule))],
    undo: [nft(n.host, flushChain(n.table, w.chain)), ...heldRules(have).map((rule) => nft(n.host, addRule(n.ctx, n.table, w.chain, w.address, rule)))],
  });
  r.setChange('update', summary(n.table, w.chain, w.rules), reasons);
}

/** Forwarding is the host's to turn on: without it the masqueraded packets are never routed. */
function forwardingNotes(n: NatHost): void {
  for (const family of [4, 6] as const) {
    const key = family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
    const users = n.wanted.filter((w) => w.rules.some((r) => r.family === family)).map((w) => w.address);
    if (users.length && n.ctx.view.state.root.sysctls[key] === '0') {
      n.out.note(`Host "${n.host}" does not forward ${family === 4 ? 'IPv4' : 'IPv6'} (${key} = 0): the NAT of ${users.join(', ')} takes effect only once it does (sysctl -w ${key}=1); tsnet does not change the host's own settings.`, 'nat');
    }
  }
}

/** Plans every `nat.*` resource of a host, and tsnet's table around them. */
function planNatHost(ctx: PlanContext, out: HostPlan): void {
  const { host, view } = ctx;
  const state = view.state.nat;
  const wanted = [...ctx.desired.values()].filter((s): s is NatSpec => s.kind === 'nat');
  // Not read (the caller did not ask), or no nftables on the host: an error only when NAT is wanted.
  if (state === undefined || (wanted.length && state === null && view.state.natUnavailable)) {
    const why = state === undefined ? `the nftables state of host "${host}" was not read` : `nat needs nftables on host "${host}": ${view.state.natUnavailable}`;
    for (const w of wanted) out.resource(w.address, 'nat').error(why);
    return;
  }
  const n = new NatHost(ctx, out, natTableName(ctx.topology), state);
  deleteChains(n);
  if (n.tableGoes) return;
  for (const w of [...n.wanted].sort((a, b) => a.address.localeCompare(b.address))) {
    n.resource(w.address).want = w;
    const have = n.chains.get(w.chain);
    if (!have || have.base !== NAT_CHAIN_BASE) createChain(n, w, have);
    else updateChain(n, w, have);
  }
  forwardingNotes(n);
}

export const nat: ResourceApplier = { kind: 'nat', planHost: planNatHost };
