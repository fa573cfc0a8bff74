// NAT of bridge networks (`nat: true`): per network a postrouting nat chain `nat-<network>` in
// tsnet's own nftables table `inet tsnet-<topology>`, with one rule per subnet:
//   ip saddr 198.18.10.0/24 oifname != "tsn-web" masquerade comment "tsnet:<topology>:nat.web"
// The table is tsnet's by construction; no other table is ever touched. The table is made with
// the first chain and removed with the last one, unless it holds a chain tsnet did not make.
import type { NatRuleSpec, NatSpec } from '../planner/desired.js';
import type { Action } from '../planner/types.js';
import type { Command } from '../planner/types.js';
import { NAT_CHAIN_BASE, NAT_FAMILY, natChainNetwork } from '../state/nft.js';
import type { KNatChain } from '../state/types.js';
import type { HostPlan, StepDep } from '../planner/host-plan.js';
import { natTableName } from '../state/nft.js';
import { cmd, mark } from './common.js';
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

/** Plans every `nat.*` resource of a host, and tsnet's table around them. */
function planNatHost(ctx: PlanContext, out: HostPlan, table: string): void {
  const { host, view } = ctx;
  const sink = sinkOf(out);
  const wanted = [...ctx.desired.values()].filter((s): s is NatSpec => s.kind === 'nat');
  const state = view.state.nat;
  if (state === undefined) {
    // Not read (the caller did not ask): only an error when NAT is wanted.
    for (const w of wanted) sink.error(host, w.address, `the nftables state of host "${host}" was not read`);
    return;
  }
  if (wanted.length && state === null && view.state.natUnavailable) {
    for (const w of wanted) sink.error(host, w.address, `nat needs nftables on host "${host}": ${view.state.natUnavailable}`);
    return;
  }
  const chains = new Map((state?.chains ?? []).map((c) => [c.name, c]));
  const ours = [...chains.values()].filter((c) => natChainNetwork(c.name) !== undefined);
  const foreignChains = [...chains.values()].filter((c) => natChainNetwork(c.name) === undefined);
  const wantedChains = new Set(wanted.map((w) => w.chain));

  // The table: made by the first step that needs it, removed when nothing of ours is left in it.
  let tableStep: StepRef | undefined;
  const tableCreate = (): string[][] => {
    if (state !== null || tableStep) return [];
    return [['add', 'table', NAT_FAMILY, table]];
  };
  const tableUndo = (): Command[] => (state !== null || tableStep ? [] : [nft(host, ['delete', 'table', NAT_FAMILY, table])]);
  const deleteTable = state !== null && !wanted.length && !foreignChains.length;

  for (const c of ours) {
    const address = `nat.${natChainNetwork(c.name)}`;
    if (wantedChains.has(c.name) && c.base === NAT_CHAIN_BASE) continue;
    const replacing = wantedChains.has(c.name);
    const held = heldRules(c);
    if (!replacing) sink.change(host, address, 'nat', 'delete', summary(table, c.name, held), ['not in the topology any more']);
    if (deleteTable) continue; // the table's deletion takes the chain along
    sink.step(host, address, {
      phase: 'delete',
      ns: null,
      tool: 'nft',
      action: replacing ? 'replace' : 'delete',
      deletion: true,
      description: `delete nftables chain ${c.name}`,
      do: [flushChain(table, c.name), deleteChain(table, c.name)],
      deletes: [chainRef(host, c.name)],
      undo: [nft(host, addChain(table, c.name)), ...held.map((r) => nft(host, addRule(ctx, table, c.name, address, r)))],
    });
  }
  if (deleteTable) {
    const undo: Command[] = [nft(host, ['add', 'table', NAT_FAMILY, table])];
    for (const c of ours) {
      const address = `nat.${natChainNetwork(c.name)}`;
      undo.push(nft(host, addChain(table, c.name)), ...heldRules(c).map((r) => nft(host, addRule(ctx, table, c.name, address, r))));
    }
    sink.step(host, 'nat', {
      phase: 'delete',
      ns: null,
      tool: 'nft',
      action: 'delete',
      deletion: true,
      description: `delete nftables table ${NAT_FAMILY} ${table}`,
      do: [['delete', 'table', NAT_FAMILY, table]],
      deletes: [{ kind: 'nft-table', host, ns: null, name: table }],
      undo,
    });
    return;
  }

  for (const w of [...wanted].sort((a, b) => a.address.localeCompare(b.address))) {
    const have = chains.get(w.chain);
    const after: StepDep[] = have ? [{ address: w.address, phase: 'delete' }] : tableStep ? [tableStep] : [];
    if (!have || have.base !== NAT_CHAIN_BASE) {
      const reasons = have ? [`chain ${w.chain} is ${have.base ?? 'a regular chain'}, not ${NAT_CHAIN_BASE} (forces replacement)`] : [];
      const lines = [...tableCreate(), addChain(table, w.chain), ...w.rules.map((r) => addRule(ctx, table, w.chain, w.address, r))];
      const undo = [nft(host, flushChain(table, w.chain)), nft(host, deleteChain(table, w.chain)), ...tableUndo()];
      const creates: ObjectRef[] = [...(state === null && !tableStep ? [{ kind: 'nft-table' as const, host, ns: null, name: table }] : []), chainRef(host, w.chain)];
      const id = sink.step(host, w.address, { phase: 'create', ns: null, tool: 'nft', action: have ? 'replace' : 'create', description: `create nftables chain ${w.chain}`, do: lines, creates, undo, after });
      tableStep ??= id;
      sink.change(host, w.address, 'nat', have ? 'replace' : 'create', summary(table, w.chain, w.rules), reasons);
      continue;
    }
    // The chain is there: its rules must be exactly the wanted ones, in tsnet's shape.
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
    if (!reasons.length) continue;
    sink.step(host, w.address, {
      phase: 'update',
      ns: null,
      tool: 'nft',
      action: 'update',
      description: `update nftables chain ${w.chain}`,
      do: [flushChain(table, w.chain), ...w.rules.map((r) => addRule(ctx, table, w.chain, w.address, r))],
      undo: [nft(host, flushChain(table, w.chain)), ...heldRules(have).map((r) => nft(host, addRule(ctx, table, w.chain, w.address, r)))],
    });
    sink.change(host, w.address, 'nat', 'update', summary(table, w.chain, w.rules), reasons);
  }
  // Forwarding is the host's to turn on: without it the masqueraded packets are never routed.
  for (const family of [4, 6] as const) {
    const key = family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
    const users = wanted.filter((w) => w.rules.some((r) => r.family === family)).map((w) => w.address);
    if (users.length && view.state.root.sysctls[key] === '0') {
      sink.note(`Host "${host}" does not forward ${family === 4 ? 'IPv4' : 'IPv6'} (${key} = 0): the NAT of ${users.join(', ')} takes effect only once it does (sysctl -w ${key}=1); tsnet does not change the host's own settings.`);
    }
  }
}

/** The NAT resources' parts of the host's plan, written as one (they share the table). */
function sinkOf(out: HostPlan) {
  const r = (address: string) => out.resource(address, 'nat');
  return {
    change: (_host: string, address: string, _kind: 'nat', action: Action, summary: string, reasons: string[]) => r(address).setChange(action, summary, reasons),
    error: (_host: string, address: string, message: string) => r(address).error(message),
    step: (_host: string, address: string, d: Parameters<ReturnType<typeof r>['step']>[0]) => r(address).step(d),
    note: (text: string) => out.note(text, 'nat'),
  };
}

export const nat: ResourceApplier = {
  kind: 'nat',
  planHost: (ctx, out) => planNatHost(ctx, out, natTableName(ctx.topology)),
};
