// tsnet's nftables table on a host: `inet tsnet-<topology>`, holding one postrouting nat chain
// per bridge network with `nat: true`. The table is tsnet's by construction (DESIGN.md): no
// other table is ever read, changed or deleted. Read with `nft -j list table`, one process.
import { formatCidr, parseCidr } from '../model/addresses.js';
import type { Runner } from './runner.js';
import type { Family, KNatChain, KNatRule, KNatTable } from './types.js';

/** The family of tsnet's table: inet, so one chain serves IPv4 and IPv6. */
export const NAT_FAMILY = 'inet';

export const natTableName = (topology: string): string => `tsnet-${topology}`;

/** The chain of a network with `nat: true`. */
export const natChainName = (network: string): string => `nat-${network}`;

/** The network a chain of tsnet's table serves; undefined for a chain tsnet did not make. */
export const natChainNetwork = (chain: string): string | undefined => (/^nat-[A-Za-z0-9][A-Za-z0-9_-]*$/.test(chain) ? chain.slice(4) : undefined);

/** Type, hook and priority of tsnet's chains as `nft -j` prints them (srcnat = 100). */
export const NAT_CHAIN_BASE = 'nat/postrouting/100';

export interface NatRead {
  table: KNatTable | null;
  /** Why nftables cannot be used on the host; the table is then taken as absent. */
  unavailable?: string;
}

/**
 * Reads the table. Absent ("No such file or directory") is null. A host without nft, or a
 * kernel without nf_tables, cannot hold the table either: null, with the reason kept for a plan
 * that wants NAT there. Any other failure is thrown: what cannot be read is never "absent".
 */
export async function readNat(runner: Runner, table: string): Promise<NatRead> {
  const res = await runner.run(['nft', '-j', 'list', 'table', NAT_FAMILY, table]);
  if (res.exitCode === 0) return { table: parseNatTable(res.stdout, table) };
  const err = res.stderr.trim();
  if (res.exitCode === 127 || /ENOENT|command not found|not found/.test(err) && !/No such file or directory/.test(err)) {
    return { table: null, unavailable: 'nft (Debian package nftables) is not installed' };
  }
  if (/No such file or directory/.test(err)) return { table: null };
  if (/Operation not supported|Protocol not supported|Address family not supported/.test(err)) {
    return { table: null, unavailable: `the kernel has no nf_tables (${firstLine(err)})` };
  }
  throw new Error(`cannot read nftables table ${NAT_FAMILY} ${table}: ${firstLine(err) || `nft exited with ${res.exitCode}`}`);
}

const firstLine = (s: string) => s.split('\n').find((l) => l.trim())?.trim() ?? '';

interface NftJson {
  nftables?: Array<{
    table?: { family: string; name: string };
    chain?: { family: string; table: string; name: string; type?: string; hook?: string; prio?: number };
    rule?: { family: string; table: string; chain: string; handle: number; comment?: string; expr?: unknown[] };
  }>;
}

/** Parses `nft -j list table inet NAME` (or a whole `list ruleset`: other tables are skipped). */
export function parseNatTable(stdout: string, name: string): KNatTable {
  const json = JSON.parse(stdout) as NftJson;
  const chains = new Map<string, KNatChain>();
  for (const item of json.nftables ?? []) {
    if (item.chain && item.chain.table === name && item.chain.family === NAT_FAMILY) {
      const c = item.chain;
      chains.set(c.name, { name: c.name, ...(c.type && c.hook ? { base: `${c.type}/${c.hook}/${c.prio ?? ''}` } : {}), rules: [] });
    }
  }
  for (const item of json.nftables ?? []) {
    if (item.rule && item.rule.table === name && item.rule.family === NAT_FAMILY) chains.get(item.rule.chain)?.rules.push(parseNatRule(item.rule));
  }
  return { name, chains: [...chains.values()] };
}

type Expr = {
  match?: { op?: string; left?: { payload?: { protocol?: string; field?: string }; meta?: { key?: string } }; right?: unknown };
  masquerade?: unknown;
};

/** A rule in tsnet's shape (`ip saddr S oifname != B masquerade`), or understood: false. */
export function parseNatRule(r: { handle: number; comment?: string; expr?: unknown[] }): KNatRule {
  let family: Family | undefined;
  let subnet: string | undefined;
  let notOut: string | undefined;
  let masquerade = false;
  let other = false;
  for (const e of (r.expr ?? []) as Expr[]) {
    const m = e.match;
    if (m) {
      const p = m.left?.payload;
      if (m.op === '==' && p?.field === 'saddr' && (p.protocol === 'ip' || p.protocol === 'ip6')) {
        family = p.protocol === 'ip' ? 4 : 6;
        const right = m.right as string | { prefix?: { addr: string; len: number } };
        const text = typeof right === 'string' ? `${right}/${family === 4 ? 32 : 128}` : right?.prefix ? `${right.prefix.addr}/${right.prefix.len}` : undefined;
        const cidr = text ? parseCidr(text, false) : undefined;
        if (cidr) subnet = formatCidr(cidr);
        else other = true;
      } else if (m.op === '!=' && m.left?.meta?.key === 'oifname' && typeof m.right === 'string') {
        notOut = m.right;
      } else other = true;
    } else if (e && typeof e === 'object' && 'masquerade' in e) masquerade = true;
    else other = true;
  }
  const understood = !other && masquerade && family !== undefined && subnet !== undefined && notOut !== undefined;
  const text = ruleText(r.expr ?? []);
  return {
    ...(text !== undefined ? { text } : {}),
    family: family ?? 4,
    subnet: subnet ?? '?',
    notOut: notOut ?? '?',
    handle: r.handle,
    ...(r.comment ? { comment: r.comment } : {}),
    understood,
  };
}

// ------------------------------------------------------------------ rules as nft prints them

/** Interface-name keys, whose values nft prints in double quotes. */
const IFNAME_KEYS = new Set(['iifname', 'oifname']);
/** Meta keys nft prints without "meta". */
const BARE_META = new Set(['iifname', 'oifname', 'iif', 'oif', 'mark']);

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function leftText(left: Json): { text: string; quoted: boolean } | undefined {
  if (!isObj(left)) return undefined;
  const payload = left['payload'];
  if (isObj(payload) && typeof payload['protocol'] === 'string' && typeof payload['field'] === 'string') return { text: `${payload['protocol']} ${payload['field']}`, quoted: false };
  const meta = left['meta'];
  if (isObj(meta) && typeof meta['key'] === 'string') return { text: BARE_META.has(meta['key']) ? meta['key'] : `meta ${meta['key']}`, quoted: IFNAME_KEYS.has(meta['key']) };
  const ct = left['ct'];
  if (isObj(ct) && typeof ct['key'] === 'string' && ct['dir'] === undefined) return { text: `ct ${ct['key']}`, quoted: false };
  const fib = left['fib'];
  if (isObj(fib) && typeof fib['result'] === 'string' && Array.isArray(fib['flags'])) return { text: `fib ${(fib['flags'] as string[]).join(' . ')} ${fib['result']}`, quoted: false };
  return undefined;
}

function valueText(v: Json, quoted: boolean): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return quoted ? `"${v}"` : v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return (v as string[]).join(',');
  if (isObj(v)) {
    const prefix = v['prefix'];
    if (isObj(prefix) && typeof prefix['addr'] === 'string' && typeof prefix['len'] === 'number') return `${prefix['addr']}/${prefix['len']}`;
    const set = v['set'];
    if (Array.isArray(set)) {
      const items = set.map((x) => valueText(x, quoted));
      return items.every((x) => x !== undefined) ? `{ ${items.join(', ')} }` : undefined;
    }
  }
  return undefined;
}

function exprText(e: Json): string | undefined {
  if (!isObj(e)) return undefined;
  const keys = Object.keys(e);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  const body = e[key];
  if (key === 'match' && isObj(body)) {
    const left = leftText(body['left']);
    const right = left && valueText(body['right'], left.quoted);
    const op = body['op'] === '==' || body['op'] === 'in' ? '' : body['op'] === '!=' ? '!= ' : undefined;
    return left && right !== undefined && op !== undefined ? `${left.text} ${op}${right}` : undefined;
  }
  if ((key === 'accept' || key === 'drop' || key === 'masquerade' || key === 'return') && body === null) return key;
  if ((key === 'dnat' || key === 'snat') && isObj(body) && typeof body['addr'] === 'string' && (body['family'] === 'ip' || body['family'] === 'ip6')) {
    const addr = body['family'] === 'ip6' && typeof body['port'] === 'number' ? `[${body['addr']}]` : body['addr'];
    return `${key} ${body['family']} to ${addr}${typeof body['port'] === 'number' ? `:${body['port']}` : ''}`;
  }
  return undefined;
}

/**
 * A rule's expressions as `nft list` prints them (without its comment), for the shapes tsnet
 * writes: matches on payload, meta, ct and fib with ==, != or a set, and accept, drop,
 * masquerade, dnat. Anything else is undefined: a rule tsnet did not write, so drift.
 */
export function ruleText(expr: readonly Json[]): string | undefined {
  const parts = expr.map(exprText);
  return parts.length && parts.every((p) => p !== undefined) ? parts.join(' ') : undefined;
}
