// IP arithmetic on BigInt, parsing with ipaddr.js. Pure functions, no kernel access.
import ipaddr from 'ipaddr.js';
import type { Family } from './types.js';

export interface Cidr {
  family: Family;
  /** The network address as an integer. */
  base: bigint;
  prefixLength: number;
}

const bits = (family: Family) => (family === 4 ? 32 : 128);

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let n = 0n;
  for (const byte of addr.toByteArray()) n = (n << 8n) | BigInt(byte);
  return n;
}

/** Parses an address written without a prefix; undefined when it is not one. */
export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  if (typeof text !== 'string') return undefined;
  // A plan parses the same few thousand addresses many times (file, kernel, held state): the
  // answers are kept (frozen, as callers share them).
  let ip = parsedIps.get(text);
  if (ip === undefined) {
    if (parsedIps.size >= 100_000) parsedIps.clear();
    ip = parseIpUncached(text) ?? null;
    parsedIps.set(text, ip);
  }
  return ip ?? undefined;
}

const parsedIps = new Map<string, Readonly<{ family: Family; value: bigint }> | null>();

function parseIpUncached(text: string): { family: Family; value: bigint } | undefined {
  if (text.includes('/')) return undefined;
  // ipaddr.isValid accepts shorthand like "10.1" (classful); a topology must say what it means.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return Object.freeze({ family: 4 as const, value: toBigInt(ipaddr.IPv4.parse(text)) });
  if (ipaddr.IPv6.isValid(text) && !text.includes('%')) return Object.freeze({ family: 6 as const, value: toBigInt(ipaddr.IPv6.parse(text)) });
  return undefined;
}

/**
 * Parses "a.b.c.d/n" or "x::/n". `strict` refuses host bits set (198.18.0.5/24 is an address
 * with a prefix, not a subnet); without it, host bits are cleared.
 */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > bits(ip.family)) return undefined;
  const mask = prefixMask(ip.family, prefixLength);
  const base = ip.value & mask;
  if (strict && base !== ip.value) return undefined;
  return { family: ip.family, base, prefixLength };
}

/** True when the text is a CIDR whose host bits are set, e.g. 198.18.0.5/24. */
export function hasHostBits(text: string): boolean {
  return parseCidr(text, false) !== undefined && parseCidr(text, true) === undefined;
}

function prefixMask(family: Family, prefixLength: number): bigint {
  const total = bits(family);
  const all = (1n << BigInt(total)) - 1n;
  return (all >> BigInt(total - prefixLength)) << BigInt(total - prefixLength) & all;
}

export const size = (c: Cidr): bigint => 1n << BigInt(bits(c.family) - c.prefixLength);
export const last = (c: Cidr): bigint => c.base + size(c) - 1n;

export function contains(c: Cidr, family: Family, value: bigint): boolean {
  return family === c.family && value >= c.base && value <= last(c);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.base >= outer.base && last(inner) <= last(outer);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= last(b) && b.base <= last(a);
}

export function formatIp(family: Family, value: bigint): string {
  const bytes: number[] = [];
  const n = family === 4 ? 4 : 16;
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export const formatCidr = (c: Cidr): string => `${formatIp(c.family, c.base)}/${c.prefixLength}`;

/** Canonical text of an address (IPv6 compressed, lowercase). */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip.family, ip.value) : undefined;
}

/** The network address, or undefined for IPv6 (which has none to skip) and /31, /32. */
export function networkAddress(c: Cidr): bigint | undefined {
  return c.family === 4 && c.prefixLength < 31 ? c.base : undefined;
}

/** The broadcast address of an IPv4 subnet (not for /31, /32, or IPv6). */
export function broadcastAddress(c: Cidr): bigint | undefined {
  return c.family === 4 && c.prefixLength < 31 ? last(c) : undefined;
}

/**
 * The Subnet-Router anycast address of an IPv6 subnet (RFC 4291 2.6.1): the all-zero interface
 * identifier, which routers answer to. Never handed out automatically (Docker skips it too).
 * Undefined for IPv4 and for /127, /128.
 */
export function subnetRouterAnycast(c: Cidr): bigint | undefined {
  return c.family === 6 && c.prefixLength < 127 ? c.base : undefined;
}

/** The first usable address: the gateway's default. */
export function firstHost(c: Cidr): bigint {
  return c.family === 4 && c.prefixLength >= 31 ? c.base : c.base + 1n;
}

/**
 * Lowest address of `pool` that is not taken, skipping the subnet's network and broadcast
 * addresses (IPv6: the Subnet-Router anycast address). `taken` holds integers of the same
 * family. Returns undefined when the pool is full.
 * Runs in O(|taken| log |taken|) regardless of the pool size.
 */
export function lowestFree(pool: Cidr, subnet: Cidr, taken: Set<bigint>): bigint | undefined {
  return new PoolAllocator(pool, subnet, taken).next();
}

/**
 * Hands out the lowest free addresses of a pool one after another: each next() is the lowest
 * address not taken and not handed out before. The taken addresses are sorted once, so N
 * addresses cost O(T log T + N) however large the pool is.
 */
export class PoolAllocator {
  private readonly sorted: bigint[];
  private index = 0;
  private candidate: bigint;
  private readonly end: bigint;

  constructor(pool: Cidr, subnet: Cidr, taken: Iterable<bigint>) {
    const skip = new Set(taken);
    const net = networkAddress(subnet) ?? subnetRouterAnycast(subnet);
    const bcast = broadcastAddress(subnet);
    if (net !== undefined) skip.add(net);
    if (bcast !== undefined) skip.add(bcast);
    this.candidate = pool.base;
    this.end = last(pool);
    this.sorted = [...skip].filter((v) => v >= pool.base && v <= this.end).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  next(): bigint | undefined {
    const s = this.sorted;
    while (this.index < s.length && s[this.index]! < this.candidate) this.index++;
    while (this.index < s.length && s[this.index] === this.candidate) {
      this.candidate++;
      this.index++;
    }
    if (this.candidate > this.end) return undefined;
    return this.candidate++;
  }
}

/** Docker's default address pools for bridge networks, in order, as CIDRs of the subnets handed out. */
export function* dockerDefaultPools(): Generator<Cidr> {
  for (let second = 17; second <= 31; second++) {
    yield { family: 4, base: (172n << 24n) | (BigInt(second) << 16n), prefixLength: 16 };
  }
  for (let third = 0; third < 256; third += 16) {
    yield { family: 4, base: (192n << 24n) | (168n << 16n) | (BigInt(third) << 8n), prefixLength: 20 };
  }
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** A unicast MAC address in colon form; multicast (low bit of the first octet) is refused. */
export function macProblem(mac: string): string | undefined {
  if (!MAC_RE.test(mac)) return 'is not a MAC address like 02:42:c6:12:00:05';
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return 'is a multicast MAC address; an interface needs a unicast one';
  if (/^(00:){5}00$/.test(mac)) return 'is the all-zero MAC address';
  return undefined;
}

/**
 * The MAC Docker derives from an IPv4 address: 02:42 followed by the four address bytes.
 * For IPv6-only endpoints, the last four bytes of the address.
 */
export function macFromIp(family: Family, value: bigint): string {
  const low = value & 0xffffffffn;
  const bytes = [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((low >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
