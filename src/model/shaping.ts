// Traffic shaping (issue 12): the `shaping:` syntax of an endpoint or network, its units, its
// rules, the qdisc it asks for (tbf or netem), and the canonical text plan lines use.
//
// Units follow tc's own parsers (iproute2 lib/utils_math.c get_rate64 and get_size,
// lib/utils.c get_time, tc/tc_util.c parse_percent), with three deliberate restrictions: a unit is
// always required (tc reads a bare number as bits, bytes or microseconds depending on the key),
// the byte-rate forms must be spelled with a capital B (tc compares suffixes without case, so it
// reads "10mbps" as 10 megaBYTES per second, eight times what the writer meant), and values must
// be whole in the unit tsnet counts in (bits/s, bytes, microseconds, parts per million).
// docs/shaping.md explains the choices.
import type { PathSegment } from './source.js';

// ---------------------------------------------------------------- canonical numbers

/** A netem or tbf queue length: tbf counts bytes, netem packets. */
export type Limit = { unit: 'bytes'; value: number } | { unit: 'packets'; value: number };

/**
 * One direction of shaping in canonical numbers: rates in bits/s, times in microseconds,
 * probabilities in parts per million (1% = 10000), sizes in bytes.
 */
export interface ShapingValues {
  rate?: number;
  burst?: number;
  limit?: Limit;
  delay?: number;
  jitter?: number;
  loss?: number;
  duplicate?: number;
  corrupt?: number;
  reorder?: number;
}

export type ShapingKey = keyof ShapingValues;
export const SHAPING_KEYS: readonly ShapingKey[] = ['rate', 'burst', 'limit', 'delay', 'jitter', 'loss', 'duplicate', 'corrupt', 'reorder'];

/** What the sandbox sends through the interface (`egress`), and what it receives (`ingress`). */
export interface ParsedShaping {
  egress: ShapingValues;
  ingress?: ShapingValues;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; hint?: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (message: string, hint?: string): Parsed<never> => ({ ok: false, message, ...(hint ? { hint } : {}) });

/** The same suffix tables as tc's, case-insensitive like tc's strcasecmp. */
const BIT_UNITS: Readonly<Record<string, bigint>> = {
  bit: 1n,
  kbit: 1000n,
  mbit: 1000_000n,
  gbit: 1000_000_000n,
  tbit: 1000_000_000_000n,
  kibit: 1024n,
  mibit: 1024n ** 2n,
  gibit: 1024n ** 3n,
  tibit: 1024n ** 4n,
};
/** Byte rates, spelled exactly (see the header: "mbps" is not megabits). */
const BYTE_RATE_UNITS: Readonly<Record<string, bigint>> = {
  Bps: 8n,
  KBps: 8000n,
  MBps: 8000_000n,
  GBps: 8000_000_000n,
  TBps: 8000_000_000_000n,
  KiBps: 8n * 1024n,
  MiBps: 8n * 1024n ** 2n,
  GiBps: 8n * 1024n ** 3n,
  TiBps: 8n * 1024n ** 4n,
};
const TIME_UNITS: Readonly<Record<string, bigint>> = {
  s: 1000_000n,
  sec: 1000_000n,
  secs: 1000_000n,
  ms: 1000n,
  msec: 1000n,
  msecs: 1000n,
  us: 1n,
  usec: 1n,
  usecs: 1n,
};
/** tc's sizes are binary: 1kb = 1024 bytes. */
const SIZE_UNITS: Readonly<Record<string, bigint>> = {
  b: 1n,
  k: 1024n,
  kb: 1024n,
  m: 1024n ** 2n,
  mb: 1024n ** 2n,
  g: 1024n ** 3n,
  gb: 1024n ** 3n,
};

const NUMBER = '[0-9]+(\\.[0-9]+)?';
/** [xX] for each letter: JSON Schema patterns have no flags, and tc ignores case. */
const anyCase = (word: string): string => [...word].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');

export const RATE_PATTERN = `^${NUMBER}(${anyCase('bit')}|[kKmMgGtT]${anyCase('bit')}|[kKmMgGtT]${anyCase('ibit')}|([KMGT]i?)?Bps)$`;
export const TIME_PATTERN = `^${NUMBER}(${anyCase('us')}|${anyCase('usec')}|${anyCase('usecs')}|${anyCase('ms')}|${anyCase('msec')}|${anyCase('msecs')}|${anyCase('s')}|${anyCase('sec')}|${anyCase('secs')})$`;
export const PERCENT_PATTERN = `^${NUMBER}%$`;
export const SIZE_PATTERN = `^${NUMBER}(${anyCase('b')}|[kKmMgG]${anyCase('b')}?)$`;

/** Splits "1.5mbit" into an exact fraction (15 / 10) and its unit; undefined when not a number. */
function splitNumber(text: string): { numerator: bigint; denominator: bigint; unit: string } | undefined {
  const m = /^([0-9]+)(?:\.([0-9]+))?(.*)$/.exec(text);
  if (!m) return undefined;
  const fraction = m[2] ?? '';
  return { numerator: BigInt(m[1]! + fraction), denominator: 10n ** BigInt(fraction.length), unit: m[3]! };
}

/** numerator * scale / denominator as a safe integer, or undefined when it is not whole (or too big). */
function whole(numerator: bigint, scale: bigint, denominator: bigint): number | undefined {
  const scaled = numerator * scale;
  if (scaled % denominator !== 0n) return undefined;
  const value = scaled / denominator;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

const unitIn = (table: Readonly<Record<string, bigint>>, unit: string, caseless: boolean): bigint | undefined => {
  if (Object.hasOwn(table, unit)) return table[unit];
  if (!caseless) return undefined;
  const lower = unit.toLowerCase();
  return Object.hasOwn(table, lower) ? table[lower] : undefined;
};

const RATE_HINT = 'a rate is a number and a unit: bit, kbit, mbit, gbit, tbit (also kibit...), or bytes per second as Bps, KBps, MBps, GBps';

/** A rate in bits per second: "10mbit" -> 10000000. */
export function parseRate(text: string): Parsed<number> {
  const n = splitNumber(text.trim());
  if (!n) return text.trim().startsWith('-') ? fail(`rate "${text}" is below zero`, 'a rate must be above zero') : fail(`"${text}" is not a rate`, RATE_HINT);
  if (n.unit === '') return fail(`rate "${text}" has no unit`, `write ${text}bit, ${text}kbit or ${text}mbit: tsnet does not guess`);
  const scale = unitIn(BIT_UNITS, n.unit, true) ?? unitIn(BYTE_RATE_UNITS, n.unit, false);
  if (scale === undefined) {
    if (/^[kmgt]?i?bps$/i.test(n.unit))
      return fail(`rate "${text}": tc reads "${n.unit}" as bytes per second`, `write ${text.slice(0, -n.unit.length)}${n.unit.slice(0, -3)}bit for bits per second, or spell the byte rate with a capital B (e.g. MBps)`);
    return fail(`unknown rate unit "${n.unit}" in "${text}"`, RATE_HINT);
  }
  const bits = whole(n.numerator, scale, n.denominator);
  if (bits === undefined) return fail(`rate "${text}" is not a whole number of bits per second (or is too large)`);
  // tc passes bytes per second to the kernel: below 8 bit/s nothing is left.
  if (bits < 8) return fail(`rate "${text}" is ${bits === 0 ? 'zero' : 'below one byte per second'}`, 'a rate must be at least 8bit (one byte per second)');
  return ok(bits);
}

/** The longest delay or jitter tc 6.1 can pass: 2^32 psched ticks of 64 ns (about 274 s). */
export const MAX_TIME_US = Math.floor((2 ** 32 * 64) / 1000) - 1;

/** A time in microseconds: "40ms" -> 40000. */
export function parseTime(text: string): Parsed<number> {
  const n = splitNumber(text.trim());
  const hint = 'a time is a number and a unit: s, ms or us';
  if (!n) return text.trim().startsWith('-') ? fail(`time "${text}" is below zero`, hint) : fail(`"${text}" is not a time`, hint);
  if (n.unit === '') return fail(`time "${text}" has no unit`, `write ${text}ms or ${text}us: tsnet does not guess`);
  const scale = unitIn(TIME_UNITS, n.unit, true);
  if (scale === undefined) return fail(`unknown time unit "${n.unit}" in "${text}"`, hint);
  const us = whole(n.numerator, scale, n.denominator);
  if (us === undefined) return fail(`time "${text}" is not a whole number of microseconds`, 'tc counts in whole microseconds');
  if (us > MAX_TIME_US) return fail(`time "${text}" is too long`, 'tc takes at most 274s');
  return ok(us);
}

/** A probability in parts per million: "0.5%" -> 5000. */
export function parsePercent(text: string): Parsed<number> {
  const n = splitNumber(text.trim());
  const hint = 'a percentage from 0% to 100%, at most four decimals (e.g. 0.5%)';
  if (!n || n.unit !== '%') return fail(`"${text}" is not a percentage`, hint);
  const ppm = whole(n.numerator, 10_000n, n.denominator);
  if (ppm === undefined) return fail(`percentage "${text}" has more than four decimals`, hint);
  if (ppm > 1_000_000) return fail(`percentage "${text}" is above 100%`, hint);
  return ok(ppm);
}

/** A size in bytes: "32kb" -> 32768 (tc's sizes are binary). */
export function parseSize(text: string): Parsed<number> {
  const n = splitNumber(text.trim());
  const hint = 'a size is a number and a unit: b, kb (1024 bytes) or mb';
  if (!n) return fail(`"${text}" is not a size`, hint);
  if (n.unit === '') return fail(`size "${text}" has no unit`, `write ${text}b or ${text}kb: tsnet does not guess`);
  const scale = unitIn(SIZE_UNITS, n.unit, true);
  if (scale === undefined) return fail(`unknown size unit "${n.unit}" in "${text}"`, hint);
  const bytes = whole(n.numerator, scale, n.denominator);
  if (bytes === undefined) return fail(`size "${text}" is not a whole number of bytes`);
  if (bytes === 0) return fail(`size "${text}" is zero`, hint);
  if (bytes > 0xffff_ffff) return fail(`size "${text}" is above 4gb`, 'tc takes sizes below 4gb');
  return ok(bytes);
}

/** A queue length: a whole number is packets (netem), a size is bytes (tbf). */
export function parseLimit(value: string | number): Parsed<Limit> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 0xffff_ffff) return fail(`limit ${value} is not a number of packets from 1 up`, 'a limit is a number of packets (netem) or a size such as 100kb (tbf)');
    return ok({ unit: 'packets', value });
  }
  const size = parseSize(value);
  return size.ok ? ok({ unit: 'bytes', value: size.value }) : size;
}

// ---------------------------------------------------------------- canonical text

/** `n / unit` with at most `decimals` decimals, when that is exact; undefined otherwise. */
function exactIn(n: number, unit: number, decimals: number): string | undefined {
  if (!Number.isSafeInteger(n)) return undefined;
  const shift = 10n ** BigInt(decimals);
  const scaledTimesUnit = BigInt(n) * shift;
  if (scaledTimesUnit % BigInt(unit) !== 0n) return undefined;
  const scaled = scaledTimesUnit / BigInt(unit);
  const frac = (scaled % shift).toString().padStart(decimals, '0').replace(/0+$/, '');
  return frac ? `${scaled / shift}.${frac}` : String(scaled / shift);
}

function formatWith(n: number, units: readonly [string, number][], decimals: number): string {
  for (const [name, size] of units) {
    if (n < size) continue;
    const text = exactIn(n, size, decimals);
    if (text !== undefined) return `${text}${name}`;
  }
  const [name, size] = units[units.length - 1]!;
  return `${n / size}${name}`;
}

/** Bits per second as tsnet writes them: 10000000 -> "10mbit", 1500000 -> "1.5mbit". */
export const formatRate = (bits: number): string =>
  formatWith(bits, [['tbit', 1e12], ['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3], ['bit', 1]], 3);
/** Microseconds: 40000 -> "40ms", 1500 -> "1.5ms", 250 -> "250us". */
export const formatTime = (us: number): string => formatWith(us, [['s', 1e6], ['ms', 1e3], ['us', 1]], 3);
/** Parts per million: 5000 -> "0.5%". */
export const formatPercent = (ppm: number): string => `${exactIn(ppm, 10_000, 4) ?? String(ppm / 10_000)}%`;
/** Bytes: 32768 -> "32kb", 1500 -> "1500b". */
export const formatSize = (bytes: number): string => formatWith(bytes, [['mb', 1024 ** 2], ['kb', 1024], ['b', 1]], 0);
export const formatLimit = (limit: Limit): string => (limit.unit === 'bytes' ? formatSize(limit.value) : `${limit.value} packets`);

/** The canonical text of one key's value (what plan lines show). */
export function formatValue<K extends ShapingKey>(key: K, value: NonNullable<ShapingValues[K]>): string {
  switch (key) {
    case 'rate':
      return formatRate(value as number);
    case 'burst':
      return formatSize(value as number);
    case 'limit':
      return formatLimit(value as Limit);
    case 'delay':
    case 'jitter':
      return formatTime(value as number);
    default:
      return formatPercent(value as number);
  }
}

// ---------------------------------------------------------------- the file syntax

const rateSchema = {
  description: 'Rate limit of what leaves the interface, as tc writes it: 10mbit, 512kbit, 1gbit (bits per second), or 1MBps (bytes per second). Alone it is a tbf qdisc; with delay or loss it is netem\'s own rate.',
  type: 'string',
  pattern: RATE_PATTERN,
} as const;
const timeSchema = (description: string) => ({ description, type: 'string', pattern: TIME_PATTERN }) as const;
const percentSchema = (description: string) => ({ description, type: 'string', pattern: PERCENT_PATTERN }) as const;

const shapingProperties = {
  rate: rateSchema,
  burst: {
    description: 'tbf only: the bucket size, e.g. 32kb (1kb = 1024 bytes). Default: what the rate sends in 4 ms, at least two full-size packets.',
    type: 'string',
    pattern: SIZE_PATTERN,
  },
  limit: {
    description: 'Queue length: a size such as 100kb for tbf (rate alone), a number of packets for netem. Default: tbf 50 ms of the rate on top of the burst; netem 1000 packets.',
    type: ['integer', 'string'],
    minimum: 1,
    pattern: SIZE_PATTERN,
  },
  delay: timeSchema('Delay added to every packet: 40ms, 500us, 1s (netem).'),
  jitter: timeSchema('Random variation of the delay, e.g. 5ms; needs delay (netem).'),
  loss: percentSchema('Share of packets dropped at random, e.g. 0.5% (netem).'),
  duplicate: percentSchema('Share of packets sent twice, e.g. 1% (netem).'),
  corrupt: percentSchema('Share of packets with a flipped bit, e.g. 0.1% (netem).'),
  reorder: percentSchema('Share of packets sent at once while the rest wait for the delay, e.g. 25%; needs delay (netem).'),
} as const;

/**
 * The `shaping:` mapping (draft-07 fragment) for endpoints and networks. Top-level keys shape
 * what the sandbox sends; `ingress` (same keys) what it receives, set on the other end of the link.
 */
export const shapingSchema = {
  description: 'Traffic shaping of what the sandbox sends through this interface (tc tbf or netem). A network\'s shaping is the default of its endpoints.',
  type: 'object',
  additionalProperties: false,
  properties: {
    ...shapingProperties,
    ingress: {
      description: 'Shaping of what the sandbox receives through this interface, set on the other end of the link (a veth\'s host end, or a point-to-point peer). Not on macvlan endpoints.',
      type: 'object',
      additionalProperties: false,
      properties: shapingProperties,
    },
  },
} as const;

/** One direction as written (the schema's shape). */
export type ShapingDirectionFile = { [K in ShapingKey]?: K extends 'limit' ? string | number : string };
/** `shaping:` as written, after the schema accepted it. */
export type ShapingFile = ShapingDirectionFile & { ingress?: ShapingDirectionFile };

/** Keys people bring from tc or other tools, and the key tsnet calls them (for "did you mean"). */
export const SHAPING_KEY_SYNONYMS: Readonly<Record<string, ShapingKey>> = {
  latency: 'delay',
  drop: 'loss',
  bandwidth: 'rate',
  bw: 'rate',
  buffer: 'burst',
  maxburst: 'burst',
  corruption: 'corrupt',
  duplication: 'duplicate',
};

// ---------------------------------------------------------------- parsing and diagnostics

/** Where a problem is, relative to the `shaping:` mapping: ["delay"], ["ingress", "loss"]. */
export type ShapingPath = readonly PathSegment[];
/**
 * Receives each problem; the caller adds the file position and the resource address. Everything
 * is an error except what says `warning` (a burst that works but may not reach the rate).
 */
export type ShapingReport = (code: string, message: string, path: ShapingPath, hint?: string, severity?: 'error' | 'warning') => void;

const CODES: Readonly<Record<ShapingKey, string>> = {
  rate: 'bad-rate',
  burst: 'bad-size',
  limit: 'bad-limit',
  delay: 'bad-time',
  jitter: 'bad-time',
  loss: 'bad-percent',
  duplicate: 'bad-percent',
  corrupt: 'bad-percent',
  reorder: 'bad-percent',
};

type ParsedValue = Parsed<number> | Parsed<Limit>;

function parseValue(key: ShapingKey, value: string | number): ParsedValue {
  if (key === 'limit') return parseLimit(value);
  if (typeof value !== 'string') return fail(`${key} must be a string such as ${key === 'rate' ? '10mbit' : key === 'burst' ? '32kb' : key === 'delay' || key === 'jitter' ? '40ms' : '1%'}`, 'quote it and give a unit');
  switch (key) {
    case 'rate':
      return parseRate(value);
    case 'burst':
      return parseSize(value);
    case 'delay':
    case 'jitter':
      return parseTime(value);
    default:
      return parsePercent(value);
  }
}

/**
 * The diagnostic for one value of `shaping:` (code, message, hint), or undefined when it is
 * fine. The schema check calls it for pattern errors under `shaping`, so that "10mbps" gets the
 * same code and words from the schema as from parseShaping.
 */
export function shapingValueProblem(key: string, value: unknown): { code: string; message: string; hint?: string } | undefined {
  if (!(SHAPING_KEYS as readonly string[]).includes(key)) return undefined;
  const k = key as ShapingKey;
  if (typeof value !== 'string' && typeof value !== 'number') return { code: CODES[k], message: `${key} must be a string with a unit` };
  const parsed = parseValue(k, value);
  if (parsed.ok) return undefined;
  return { code: CODES[k], message: parsed.message, ...(parsed.hint ? { hint: parsed.hint } : {}) };
}

function parseDirection(raw: ShapingDirectionFile, report: ShapingReport, prefix: ShapingPath): ShapingValues {
  const out: ShapingValues = {};
  for (const key of SHAPING_KEYS) {
    const value = raw[key];
    if (value === undefined) continue;
    const parsed = parseValue(key, value);
    if (!parsed.ok) {
      report(CODES[key], parsed.message, [...prefix, key], parsed.hint);
      continue;
    }
    (out as Record<ShapingKey, unknown>)[key] = parsed.value;
  }
  return out;
}

/** Canonical numbers from `shaping:` as written; each bad value is reported and left out. */
export function parseShaping(raw: ShapingFile, report: ShapingReport): ParsedShaping {
  const egress = parseDirection(raw, report, []);
  return raw.ingress === undefined ? { egress } : { egress, ingress: parseDirection(raw.ingress, report, ['ingress']) };
}

/** An endpoint's own `shaping:` replaces its network's as a whole (so `shaping: {}` unshapes one endpoint). */
export const effectiveShaping = (network: ParsedShaping | undefined, endpoint: ParsedShaping | undefined): ParsedShaping | undefined =>
  endpoint ?? network;

// ---------------------------------------------------------------- the qdisc a direction asks for

/** tbf: rate alone. Sizes in bytes, rate in bits/s. */
export interface TbfQdisc {
  kind: 'tbf';
  rate: number;
  burst: number;
  /** Bytes queued waiting for tokens. */
  limit: number;
}

/** netem: delay, loss and the rest, with its own rate when one is given. */
export interface NetemQdisc {
  kind: 'netem';
  /** Packets. */
  limit: number;
  delay?: number;
  jitter?: number;
  loss?: number;
  duplicate?: number;
  corrupt?: number;
  reorder?: number;
  rate?: number;
}

export type Qdisc = TbfQdisc | NetemQdisc;
export type QdiscKind = Qdisc['kind'];

/** The keys only netem can do; any of them (above zero) makes the qdisc netem. */
export const NETEM_KEYS = ['delay', 'jitter', 'loss', 'duplicate', 'corrupt', 'reorder'] as const;

export const DEFAULT_MTU = 1500;
/** netem's own default queue (tc's q_netem.c), in packets. */
export const NETEM_DEFAULT_LIMIT = 1000;
/** The bucket refills over this many microseconds: 1/HZ at HZ=250, the usual kernel tick (tc-tbf(8): burst >= rate/HZ). */
export const TBF_BURST_US = 4000;
/** Below this much of the rate a burst draws a warning: measured, 0.5 ms of 500mbit reached 69% of the rate, 1 ms 92% (docs/shaping.md). */
export const BURST_WARN_US = 1000;
/** The default tbf queue holds this many microseconds of the rate on top of the burst (tc-tbf(8)'s "latency 50ms"). */
export const TBF_QUEUE_US = 50_000;

export interface QdiscOptions {
  /** MTU of the interface the qdisc sits on; default 1500. */
  mtu?: number;
}

/** The qdisc kind a direction needs: netem when any netem key is above zero, tbf for a rate alone. */
export function qdiscKind(values: ShapingValues): QdiscKind | undefined {
  if (NETEM_KEYS.some((k) => (values[k] ?? 0) > 0)) return 'netem';
  return values.rate !== undefined ? 'tbf' : undefined;
}

/** Bytes the rate sends in `us` microseconds, rounded up. */
const bytesIn = (rateBits: number, us: number): number => Math.ceil((rateBits / 8) * (us / 1e6));

/** Default tbf burst: what the rate sends in one 4 ms tick, at least two full-size packets. */
export const defaultBurst = (rateBits: number, mtu = DEFAULT_MTU): number => Math.max(bytesIn(rateBits, TBF_BURST_US), 2 * (mtu + 14));

/** Default tbf limit: the burst plus 50 ms of the rate, at least two full-size packets. */
export const defaultTbfLimit = (rateBits: number, burst: number, mtu = DEFAULT_MTU): number =>
  burst + Math.max(bytesIn(rateBits, TBF_QUEUE_US), 2 * (mtu + 14));

/**
 * The qdisc one direction asks for, defaults filled in; undefined when it shapes nothing (no
 * rate, and every netem key absent or zero). Call it on values checkShaping accepted.
 */
export function desiredQdisc(values: ShapingValues, opts: QdiscOptions = {}): Qdisc | undefined {
  const mtu = opts.mtu ?? DEFAULT_MTU;
  const kind = qdiscKind(values);
  if (kind === 'tbf') {
    const rate = values.rate!;
    const burst = values.burst ?? defaultBurst(rate, mtu);
    const limit = values.limit?.unit === 'bytes' ? values.limit.value : defaultTbfLimit(rate, burst, mtu);
    return { kind, rate, burst, limit };
  }
  if (kind !== 'netem') return undefined;
  const q: NetemQdisc = { kind, limit: values.limit?.unit === 'packets' ? values.limit.value : NETEM_DEFAULT_LIMIT };
  for (const k of NETEM_KEYS) if ((values[k] ?? 0) > 0) q[k] = values[k];
  if (values.rate !== undefined) q.rate = values.rate;
  return q;
}

/** A qdisc seen as shaping values again, so two qdiscs (even of two kinds) compare key by key. */
export function qdiscValues(q: Qdisc | undefined): ShapingValues {
  if (!q) return {};
  if (q.kind === 'tbf') return { rate: q.rate, burst: q.burst, limit: { unit: 'bytes', value: q.limit } };
  const { kind: _kind, limit, ...rest } = q;
  return { ...rest, limit: { unit: 'packets', value: limit } };
}

/** "tbf rate 20mbit burst 10000b limit 135000b": the whole qdisc in canonical text. */
export function describeQdisc(q: Qdisc | undefined): string {
  if (!q) return 'none';
  const values = qdiscValues(q);
  const order: readonly ShapingKey[] = q.kind === 'tbf' ? ['rate', 'burst', 'limit'] : [...NETEM_KEYS, 'rate', 'limit'];
  return [q.kind, ...order.filter((k) => values[k] !== undefined).map((k) => `${k} ${formatValue(k, values[k]!)}`)].join(' ');
}

// ---------------------------------------------------------------- plan lines

/** One key that differs: `before` is what the kernel has, `after` what the file asks for. */
export interface ShapingChange {
  key: ShapingKey | 'qdisc';
  before?: string;
  after?: string;
  /** "delay 10ms -> 50ms", "loss 1% -> none", "qdisc tbf -> netem". */
  text: string;
}

/** Whether two values of one key are the same; tc.ts supplies one that allows for tc's rounding. */
export type SameValue = <K extends ShapingKey>(key: K, before: NonNullable<ShapingValues[K]>, after: NonNullable<ShapingValues[K]>, context: { rate?: number }) => boolean;

export const exactlySame: SameValue = (key, a, b) =>
  key === 'limit' ? (a as Limit).unit === (b as Limit).unit && (a as Limit).value === (b as Limit).value : a === b;

const changeText = (key: string, before: string | undefined, after: string | undefined): string => `${key} ${before ?? 'none'} -> ${after ?? 'none'}`;

/**
 * What differs between the qdisc the kernel has (`before`) and the one the file asks for
 * (`after`), key by key, in canonical text; empty when they match. A change of kind comes first.
 */
export function qdiscChanges(before: Qdisc | undefined, after: Qdisc | undefined, same: SameValue = exactlySame): ShapingChange[] {
  const out: ShapingChange[] = [];
  if (before && after && before.kind !== after.kind) out.push({ key: 'qdisc', before: before.kind, after: after.kind, text: changeText('qdisc', before.kind, after.kind) });
  const b = qdiscValues(before);
  const a = qdiscValues(after);
  const rate = a.rate ?? b.rate;
  const context = rate === undefined ? {} : { rate };
  for (const key of SHAPING_KEYS) {
    // A netem key at zero is the key absent (the kernel reports 0 jitter, tsnet leaves it out).
    const zeroIsNone = (NETEM_KEYS as readonly string[]).includes(key);
    const bv = zeroIsNone && b[key] === 0 ? undefined : b[key];
    const av = zeroIsNone && a[key] === 0 ? undefined : a[key];
    if (bv === undefined && av === undefined) continue;
    if (bv !== undefined && av !== undefined && same(key, bv, av, context)) continue;
    if (zeroIsNone && same(key, bv ?? 0, av ?? 0, context)) continue;
    const bt = bv === undefined ? undefined : formatValue(key, bv);
    const at = av === undefined ? undefined : formatValue(key, av);
    out.push({ key, ...(bt ? { before: bt } : {}), ...(at ? { after: at } : {}), text: changeText(key, bt, at) });
  }
  return out;
}

// ---------------------------------------------------------------- rules

export interface ShapingRuleContext {
  report: ShapingReport;
  /** Path of this direction inside `shaping:`: [] or ["ingress"]. */
  at: ShapingPath;
  /** MTU of the interface the qdisc will sit on. */
  mtu: number;
}

/** One check of one direction's values (already parsed: syntax and ranges are parseShaping's). */
export type ShapingRule = (values: ShapingValues, ctx: ShapingRuleContext) => void;

export const jitterNeedsDelay: ShapingRule = (v, { report, at }) => {
  if ((v.jitter ?? 0) > 0 && !v.delay) report('jitter-needs-delay', 'jitter varies the delay, and there is no delay', [...at, 'jitter'], 'add a delay, e.g. "delay: 40ms"');
};

export const reorderNeedsDelay: ShapingRule = (v, { report, at }) => {
  // netem sends the reordered share at once and delays the rest: without a delay there is no order to change (tc refuses it too).
  if ((v.reorder ?? 0) > 0 && !v.delay) report('reorder-needs-delay', 'reorder sends some packets ahead of the delayed rest, and there is no delay', [...at, 'reorder'], 'add a delay, e.g. "delay: 10ms"');
};

export const burstFitsRate: ShapingRule = (v, { report, at, mtu }) => {
  if (v.burst === undefined) return;
  const kind = qdiscKind(v);
  if (kind === undefined) {
    report('burst-needs-rate', 'burst is the bucket of a rate limit, and there is no rate', [...at, 'burst'], 'add a rate, e.g. "rate: 10mbit"');
    return;
  }
  if (kind === 'netem') {
    report('burst-with-netem', 'with delay, loss, duplicate, corrupt or reorder the rate is netem\'s, which has no burst', [...at, 'burst'], 'remove burst');
    return;
  }
  const frame = mtu + 14;
  if (v.burst < frame)
    report('burst-too-small', `burst ${formatSize(v.burst)} is below one full-size frame (${frame} bytes at MTU ${mtu}): tbf would drop such packets`, [...at, 'burst'], `at least ${formatSize(frame)}; the default is what the rate sends in 4 ms`);
  // The kernel keeps the bucket as a time, in 32-bit ticks of 64 ns: about 274 s of the rate.
  else if (v.rate !== undefined && v.burst < bytesIn(v.rate, BURST_WARN_US))
    report(
      'burst-below-rate',
      `burst ${formatSize(v.burst)} is less than 1 ms of ${formatRate(v.rate)}: tbf may not reach the rate`,
      [...at, 'burst'],
      `at least ${formatSize(bytesIn(v.rate, BURST_WARN_US))}; the default, ${formatSize(defaultBurst(v.rate, mtu))}, is 4 ms of the rate`,
      'warning',
    );
  else if (v.rate !== undefined && (v.burst * 8 * 1e6) / v.rate > MAX_TIME_US)
    report('burst-too-large', `burst ${formatSize(v.burst)} takes more than 274 s to send at ${formatRate(v.rate)}`, [...at, 'burst'], 'tbf keeps the bucket as a time of at most 274 s');
};

export const limitFitsQdisc: ShapingRule = (v, { report, at, mtu }) => {
  if (v.limit === undefined) return;
  const kind = qdiscKind(v);
  const where = [...at, 'limit'];
  if (kind === undefined) report('limit-needs-shaping', 'limit is the length of a shaping queue, and nothing is shaped', where, 'add a rate, a delay or a loss');
  else if (kind === 'tbf' && v.limit.unit === 'packets')
    report('limit-unit', 'a rate alone is a tbf qdisc, whose limit counts bytes', where, `write a size, e.g. "limit: ${formatSize(v.limit.value * (mtu + 14))}"`);
  else if (kind === 'netem' && v.limit.unit === 'bytes')
    report('limit-unit', 'with delay, loss, duplicate, corrupt or reorder the qdisc is netem, whose limit counts packets', where, `write a number of packets, e.g. "limit: ${Math.max(1, Math.round(v.limit.value / (mtu + 14)))}"`);
  else if (kind === 'tbf' && v.limit.value < mtu + 14)
    report('bad-limit', `limit ${formatSize(v.limit.value)} is below one full-size frame (${mtu + 14} bytes): nothing could queue`, where);
};

export const SHAPING_RULES: readonly ShapingRule[] = [jitterNeedsDelay, reorderNeedsDelay, burstFitsRate, limitFitsQdisc];

export interface CheckShapingOptions {
  /** MTU of the interface (egress) and of the other end (ingress); default 1500. */
  mtu?: number;
  /** False on macvlan endpoints: there is no other end to shape. */
  ingressAllowed?: boolean;
}

/** Runs every rule on both directions of a parsed `shaping:`. */
export function checkShaping(parsed: ParsedShaping, report: ShapingReport, opts: CheckShapingOptions = {}): void {
  const mtu = opts.mtu ?? DEFAULT_MTU;
  for (const rule of SHAPING_RULES) rule(parsed.egress, { report, at: [], mtu });
  if (!parsed.ingress) return;
  if (opts.ingressAllowed === false) {
    report('ingress-not-allowed', 'ingress shapes the other end of the link, and a macvlan endpoint has none', ['ingress'], 'shape what the sandbox sends (top-level keys), or shape the sender');
    return;
  }
  for (const rule of SHAPING_RULES) rule(parsed.ingress, { report, at: ['ingress'], mtu });
}

/**
 * parseShaping then checkShaping, the way the topology rules should call them: the rules run only
 * on a direction whose values all parsed (a bad rate would otherwise also read as "burst needs
 * a rate"). Returns the parsed values (bad ones left out).
 */
export function readShaping(raw: ShapingFile, report: ShapingReport, opts: CheckShapingOptions = {}): ParsedShaping {
  const broken = new Set<string>();
  const parsed = parseShaping(raw, (code, message, path, hint, severity) => {
    broken.add(path[0] === 'ingress' ? 'ingress' : 'egress');
    report(code, message, path, hint, severity);
  });
  const checked: ParsedShaping = { egress: broken.has('egress') ? {} : parsed.egress };
  if (parsed.ingress) checked.ingress = broken.has('ingress') ? {} : parsed.ingress;
  checkShaping(checked, report, opts);
  return parsed;
}

/** One direction's values that shape one kernel interface, and where they were written. */
export interface ShapingClaim {
  /** Resource address or description of the writer, e.g. "endpoint.r1.eth1 (ingress)". */
  source: string;
  path: ShapingPath;
  values: ShapingValues;
}

/**
 * Merges the claims on one kernel interface (on a point-to-point link, one end's shaping and the
 * peer's `ingress` both shape that end's egress). Keys set by one claim merge; a key set by two
 * is reported (`duplicate-shaping`) at the later claim and the first one's value kept.
 */
export function mergeShapingClaims(claims: readonly ShapingClaim[], report: ShapingReport): ShapingValues {
  const out: ShapingValues = {};
  const from = new Map<ShapingKey, string>();
  for (const claim of claims) {
    for (const key of SHAPING_KEYS) {
      const value = claim.values[key];
      if (value === undefined) continue;
      const first = from.get(key);
      if (first !== undefined) {
        report('duplicate-shaping', `${key} of this interface is set twice: by ${first} and by ${claim.source}`, [...claim.path, key], `keep one of them`);
        continue;
      }
      from.set(key, claim.source);
      (out as Record<ShapingKey, unknown>)[key] = value;
    }
  }
  return out;
}
