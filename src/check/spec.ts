// A check as written (`checks:` in the file) turned into a Check: `to` and `port` parsed. Pure;
// the semantic rule (rules.ts here) reports what cannot be parsed, normalize() keeps the rest.
import { parseCidr, parseIp } from '../model/addresses.js';
import type { Check, CheckFile, CheckTarget } from '../model/types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export const PORT_MAX = 65535;

/** `5432` and `"5432/tcp"` are TCP, `"53/udp"` UDP; 1..65535. */
export function parsePort(v: number | string): Parsed<NonNullable<Check['port']>> {
  const shape = 'write 5432, "5432/tcp" or "53/udp"';
  const m = typeof v === 'number' ? [String(v), String(v), 'tcp'] : /^(\d+)(?:\/(tcp|udp))?$/i.exec(v.trim());
  if (!m) return { ok: false, message: `port "${String(v)}" is not a port: ${shape}` };
  const number = Number(m[1]);
  const proto = (m[2] ?? 'tcp').toLowerCase() as 'tcp' | 'udp';
  if (!Number.isInteger(number) || number < 1 || number > PORT_MAX) return { ok: false, message: `port ${m[1]} is outside 1..${PORT_MAX}` };
  return { ok: true, value: { number, proto } };
}

/** `to`: an address, `sandbox.ifname` (one endpoint) or a sandbox. */
export function parseTarget(text: string): Parsed<CheckTarget> {
  const t = text.trim();
  const ip = parseIp(t);
  if (ip) return { ok: true, value: { kind: 'address', address: t, family: ip.family } };
  if (t.includes('/') && parseCidr(t, false)) return { ok: false, message: `"${t}" is a subnet: name one address of it` };
  if (t.includes(':') || /^[\d.]+$/.test(t)) return { ok: false, message: `"${t}" is not an IP address` };
  const dot = t.indexOf('.');
  if (dot > 0) return { ok: true, value: { kind: 'endpoint', sandbox: t.slice(0, dot), ifname: t.slice(dot + 1) } };
  if (!t) return { ok: false, message: '"to" is empty: name a sandbox, an endpoint (db.eth1) or an address' };
  return { ok: true, value: { kind: 'sandbox', sandbox: t } };
}

/** The Check of a written check that the rules accepted. */
export function toCheck(raw: CheckFile, index: number): Check | undefined {
  const to = parseTarget(raw.to);
  const port = raw.port === undefined ? undefined : parsePort(raw.port);
  if (!to.ok || (port && !port.ok)) return undefined;
  return {
    index,
    from: raw.from,
    to: to.value,
    toText: raw.to.trim(),
    ...(port?.ok ? { port: port.value } : {}),
    expect: raw.expect ?? 'reach',
  };
}

/** How a check reads in messages and tables: "tcp/5432", "udp/53", "icmp". */
export const whatOf = (port: Check['port']): string => (port ? `${port.proto}/${port.number}` : 'icmp');
