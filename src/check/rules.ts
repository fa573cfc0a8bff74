// The semantic rule for `checks:`: every name resolves, ports are ports, a `none` sandbox is not
// expected to reach anything, and an address to probe is one of the topology's own (inside one
// of its subnets, a route's destination or a host's underlay): tsnet sends probes nowhere else.
import { contains, dockerDefaultPools, parseCidr, parseIp, type Cidr } from '../model/addresses.js';
import { nearest } from '../model/diagnostics.js';
import { asList, type Prepared, type PreparedSandbox } from '../model/prepare.js';
import type { Reporter, Rule } from '../model/rules.js';
import type { PathSegment } from '../model/source.js';
import type { CheckFile, CheckTarget } from '../model/types.js';
import { parsePort, parseTarget } from './spec.js';

/** The sandbox whose namespace `name` lives in (itself, or the end of its container: chain). */
export function namespaceOwner(p: Pick<Prepared, 'sandboxes'>, name: string): PreparedSandbox | undefined {
  const seen = new Set<string>();
  let cur = p.sandboxes.get(name);
  while (cur && cur.mode.kind === 'container' && !seen.has(cur.name)) {
    seen.add(cur.name);
    cur = p.sandboxes.get(cur.mode.target);
  }
  return cur && cur.mode.kind === 'container' ? undefined : cur;
}

/** What an address may be: the ranges of the topology's own addresses. */
function ownRanges(p: Prepared): { cidrs: Cidr[]; underlays: Set<string>; pending: boolean } {
  const cidrs: Cidr[] = [];
  let pending = p.broken.sections.networks || p.broken.networks.size > 0;
  for (const net of p.networks.values()) {
    cidrs.push(...net.subnets.map((s) => s.cidr));
    if (asList(net.raw.subnet).length === 0) pending = true; // picked from the pools at plan time
  }
  for (const sb of p.sandboxes.values())
    for (const r of sb.raw.routes ?? []) {
      if (r.to === 'default') continue;
      const c = parseCidr(r.to, false) ?? parseCidr(`${r.to}/${r.to.includes(':') ? 128 : 32}`, false);
      if (c) cidrs.push(c);
    }
  if (pending) cidrs.push(...dockerDefaultPools());
  const underlays = new Set<string>();
  for (const h of p.hosts.values()) {
    const ip = h.raw?.underlay !== undefined ? parseIp(h.raw.underlay) : undefined;
    if (ip) underlays.add(`${ip.family}/${ip.value}`);
  }
  return { cidrs, underlays, pending };
}

interface Ctx {
  p: Prepared;
  r: Reporter;
  path: PathSegment[];
  res: string;
  n: number;
}

/** A sandbox name that the file lacks: an error with the nearest name, unless it failed the schema. */
function unknownSandbox(c: Ctx, name: string, field: 'from' | 'to'): void {
  if (c.p.broken.sandboxes.has(name) || c.p.broken.sections.sandboxes) return;
  const suggestion = nearest(name, c.p.sandboxes.keys());
  c.r.error('unknown-sandbox', `check ${c.n}: no sandbox "${name}" in the file`, [...c.path, field], {
    resource: c.res,
    hint: suggestion ? `did you mean "${suggestion}"?` : `its sandboxes: ${[...c.p.sandboxes.keys()].join(', ') || '(none)'}`,
  });
}

function checkFrom(c: Ctx, raw: CheckFile): void {
  const sb = c.p.sandboxes.get(raw.from);
  if (!sb) return unknownSandbox(c, raw.from, 'from');
  const owner = namespaceOwner(c.p, raw.from);
  if (owner?.mode.kind === 'none' && (raw.expect ?? 'reach') === 'reach')
    c.r.error('check-from-none', `check ${c.n}: sandbox "${raw.from}" has mode "none" (loopback only), so it cannot reach anything`, [...c.path, 'from'], {
      resource: c.res,
      hint: 'expect: blocked, or check from another sandbox',
    });
}

function checkAddress(c: Ctx, target: Extract<CheckTarget, { kind: 'address' }>): void {
  const ip = parseIp(target.address)!;
  const own = ownRanges(c.p);
  if (own.underlays.has(`${ip.family}/${ip.value}`) || own.cidrs.some((cidr) => contains(cidr, ip.family, ip.value))) return;
  c.r.error('check-address-outside', `check ${c.n}: ${target.address} is not an address of this topology`, [...c.path, 'to'], {
    resource: c.res,
    hint: 'tsnet probes only the topology\'s own addresses: inside one of its subnets, a route\'s destination, or a host\'s underlay',
  });
}

function checkSandboxTarget(c: Ctx, target: Exclude<CheckTarget, { kind: 'address' }>): void {
  const sb = c.p.sandboxes.get(target.sandbox);
  if (!sb) return unknownSandbox(c, target.sandbox, 'to');
  const owner = namespaceOwner(c.p, target.sandbox);
  if (!owner) return; // a container: chain that ends nowhere is reported by its own rule
  const names = owner.endpoints.map((e) => e.ifname);
  if (target.kind === 'sandbox') {
    if (names.length) return;
    const why = owner.mode.kind === 'own' ? 'has no endpoints' : `has mode "${owner.mode.kind}"`;
    c.r.error('check-no-address', `check ${c.n}: sandbox "${target.sandbox}" ${why}, so it has no address to probe`, [...c.path, 'to'], {
      resource: c.res,
      hint: owner.mode.kind === 'host' ? 'name one of the host\'s addresses in the topology, e.g. a bridge network\'s gateway' : undefined,
    });
    return;
  }
  if (names.includes(target.ifname)) return;
  const suggestion = nearest(target.ifname, names);
  c.r.error('unknown-endpoint', `check ${c.n}: sandbox "${target.sandbox}" has no endpoint "${target.ifname}"`, [...c.path, 'to'], {
    resource: c.res,
    hint: suggestion ? `did you mean "${target.sandbox}.${suggestion}"?` : `its endpoints: ${names.join(', ') || '(none)'}`,
  });
}

function checkOne(c: Ctx, raw: CheckFile): void {
  checkFrom(c, raw);
  const target = parseTarget(raw.to);
  if (!target.ok) c.r.error('bad-check-target', `check ${c.n}: ${target.message}`, [...c.path, 'to'], { resource: c.res, hint: 'name a sandbox, an endpoint (db.eth1) or an address' });
  else if (target.value.kind === 'address') checkAddress(c, target.value);
  else checkSandboxTarget(c, target.value);
  if (raw.port !== undefined) {
    const port = parsePort(raw.port);
    if (!port.ok) c.r.error('bad-port', `check ${c.n}: ${port.message}`, [...c.path, 'port'], { resource: c.res });
  }
}

export const checkReferences: Rule = (p, r) => {
  const list = p.file?.checks;
  if (!Array.isArray(list)) return;
  list.forEach((raw, i) => {
    // An entry the schema refused is left to the schema's diagnostics.
    const pointer = `/checks/${i}`;
    if ([...p.broken.paths].some((b) => b === '/checks' || b === pointer || b.startsWith(`${pointer}/`))) return;
    checkOne({ p, r, path: ['checks', i], res: `check.${i + 1}`, n: i + 1 }, raw);
  });
};
