// Qdiscs as the kernel has them: `tc -r -json qdisc show` parsed into the canonical numbers of
// src/model/shaping.ts, compared with the desired qdisc allowing for tc's rounding, and the argv
// that sets, removes and restores a root qdisc. Fixtures and how they were captured:
// test/fixtures/tc/README.md; the reasoning behind the tolerances: docs/shaping.md.
import {
  exactlySame,
  NETEM_KEYS,
  qdiscChanges,
  formatPercent,
  formatRate,
  formatTime,
  type Limit,
  type NetemQdisc,
  type Qdisc,
  type QdiscKind,
  type SameValue,
  type ShapingChange,
  type TbfQdisc,
} from '../model/shaping.js';

// ---------------------------------------------------------------- reading

/**
 * Reads every qdisc of a namespace. `-r` (raw) makes tbf print its `limit` (otherwise only the
 * latency it implies); `-d` is never used: it turns tbf's burst into a rounded string.
 */
export const TC_SHOW_ARGV: readonly string[] = ['tc', '-r', '-json', 'qdisc', 'show'];
/** The qdiscs of one device (the output then has no `dev` keys: pass `dev` to parseTcQdiscs). */
export const tcShowDevArgv = (dev: string): string[] => [...TC_SHOW_ARGV, 'dev', checkDev(dev)];

/** One entry of `tc -json qdisc show`, as printed. */
export interface TcEntry {
  kind: string;
  handle: string;
  dev: string;
  root: boolean;
  /** "1:10", "ffff:fff1" (ingress); absent on a root. */
  parent?: string;
  options: Record<string, unknown>;
}

/** A root tbf or netem, in canonical numbers; `extras` lists settings tsnet does not make. */
export interface ShapingRoot {
  type: 'shaping';
  handle: string;
  qdisc: Qdisc;
  /** E.g. "delay correlation 25%", "ecn", "peakrate 30mbit": a hand-made qdisc's extras. */
  extras: string[];
}

/** Any other root: noqueue (a virtual link's default), pfifo_fast, htb... */
export interface OtherRoot {
  type: 'other';
  handle: string;
  kind: string;
}

export type RootQdisc = ShapingRoot | OtherRoot;

/** What one device has: the root, the qdiscs under it, and ingress-side qdiscs (never tsnet's). */
export interface DeviceQdiscs {
  dev: string;
  root: RootQdisc;
  /** Qdiscs grafted under the root (a child of tbf, the leaves of htb). */
  children: TcEntry[];
  /** `ingress` and `clsact` qdiscs (parent ffff:fff1): they do not shape what leaves. */
  ingress: TcEntry[];
}

/**
 * A device tc does not list holds the `noop` qdisc (a link never brought up): what
 * `ip -json link` shows as "qdisc": "noop".
 */
export const NOOP_ROOT: OtherRoot = { type: 'other', handle: '0:', kind: 'noop' };

export type TcParse = { ok: true; devices: Map<string, DeviceQdiscs> } | { ok: false; error: string };

/** The qdiscs of `dev` in a parse, `noop` when tc did not list it. */
export const deviceQdiscs = (devices: ReadonlyMap<string, DeviceQdiscs>, dev: string): DeviceQdiscs =>
  devices.get(dev) ?? { dev, root: NOOP_ROOT, children: [], ingress: [] };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** JSON arrays, one document or one per line (`tc -batch` prints one per command). */
function jsonArrays(text: string): unknown[] | string {
  const trimmed = text.trim();
  if (!trimmed) return [];
  try {
    const whole = JSON.parse(trimmed) as unknown;
    return Array.isArray(whole) ? whole : `tc printed ${typeof whole}, not a JSON list`;
  } catch {
    const out: unknown[] = [];
    for (const line of trimmed.split('\n')) {
      if (!line.trim()) continue;
      try {
        const part = JSON.parse(line) as unknown;
        if (!Array.isArray(part)) return 'tc printed something other than JSON lists';
        out.push(...part);
      } catch (err) {
        return `tc's output is not JSON: ${(err as Error).message}`;
      }
    }
    return out;
  }
}

function toEntry(raw: unknown, dev: string | undefined): TcEntry | string {
  if (!isRecord(raw) || typeof raw.kind !== 'string' || typeof raw.handle !== 'string') return 'a qdisc without kind or handle';
  const name = typeof raw.dev === 'string' ? raw.dev : dev;
  if (name === undefined) return `a ${raw.kind} qdisc without a device`;
  return {
    kind: raw.kind,
    handle: raw.handle,
    dev: name,
    root: raw.root === true,
    ...(typeof raw.parent === 'string' ? { parent: raw.parent } : {}),
    options: isRecord(raw.options) ? raw.options : {},
  };
}

/**
 * Parses `tc -r -json qdisc show` (every device of a namespace), or `... show dev DEV` with
 * `opts.dev` (tc leaves the device out then). A device tc does not list has the noop qdisc:
 * see deviceQdiscs().
 */
export function parseTcQdiscs(text: string, opts: { dev?: string } = {}): TcParse {
  const arrays = jsonArrays(text);
  if (typeof arrays === 'string') return { ok: false, error: arrays };
  const devices = new Map<string, DeviceQdiscs>();
  const entries: TcEntry[] = [];
  for (const raw of arrays) {
    const e = toEntry(raw, opts.dev);
    if (typeof e === 'string') return { ok: false, error: `tc qdisc show: ${e}` };
    entries.push(e);
  }
  for (const e of entries.filter((x) => x.root)) devices.set(e.dev, { dev: e.dev, root: rootOf(e), children: [], ingress: [] });
  for (const e of entries.filter((x) => !x.root)) {
    const d = devices.get(e.dev) ?? { dev: e.dev, root: NOOP_ROOT, children: [], ingress: [] };
    devices.set(e.dev, d);
    if (e.parent === 'ffff:fff1' || e.kind === 'ingress' || e.kind === 'clsact') d.ingress.push(e);
    else d.children.push(e);
  }
  return { ok: true, devices };
}

function rootOf(e: TcEntry): RootQdisc {
  if (e.kind === 'tbf') {
    const q = tbfOf(e.options);
    if (q) return { type: 'shaping', handle: e.handle, ...q };
  }
  if (e.kind === 'netem') {
    const q = netemOf(e.options);
    if (q) return { type: 'shaping', handle: e.handle, ...q };
  }
  return { type: 'other', handle: e.handle, kind: e.kind };
}

/** tc's size text ("10000b", "32Kb", "1Mb", with -d "10000b/1"): binary units, as sprint_size writes. */
function tcSize(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = /^([0-9.]+)(b|Kb|Mb)(\/\d+)?$/.exec(v);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (m[2] === 'Mb' ? 1024 ** 2 : m[2] === 'Kb' ? 1024 : 1));
}

function tbfOf(o: Record<string, unknown>): { qdisc: TbfQdisc; extras: string[] } | undefined {
  const rateBytes = num(o.rate);
  const burst = tcSize(o.burst);
  if (rateBytes === undefined || burst === undefined || rateBytes <= 0) return undefined;
  // Without -r tbf prints only `lat`, the latency the limit gives: limit = rate * lat + burst.
  const lat = num(o.lat);
  const limit = num(o.limit) ?? (lat === undefined ? undefined : Math.round((rateBytes * lat) / 1e6) + burst);
  if (limit === undefined) return undefined;
  const extras: string[] = [];
  const peak = num(o.peakrate);
  if (peak) extras.push(`peakrate ${formatRate(peak * 8)}`);
  if (o.minburst !== undefined || o.mtu !== undefined) extras.push(`minburst ${String(o.minburst ?? o.mtu)}`);
  if (num(o.overhead)) extras.push(`overhead ${String(o.overhead)}`);
  if (num(o.mpu)) extras.push(`mpu ${String(o.mpu)}`);
  if (typeof o.linklayer === 'string' && o.linklayer !== 'ethernet') extras.push(`linklayer ${o.linklayer}`);
  return { qdisc: { kind: 'tbf', rate: rateBytes * 8, burst, limit }, extras };
}

/** A netem sub-object's number: {"loss-random": {"loss": 0.005}} -> 0.005. */
const field = (o: Record<string, unknown>, object: string, key: string): number | undefined => {
  const sub = o[object];
  return isRecord(sub) ? num(sub[key]) : undefined;
};
const ppm = (fraction: number | undefined): number | undefined => (fraction ? Math.round(fraction * 1e6) : undefined);
const us = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : Math.round(seconds * 1e6));

function netemOf(o: Record<string, unknown>): { qdisc: NetemQdisc; extras: string[] } | undefined {
  const limit = num(o.limit);
  if (limit === undefined) return undefined;
  const q: NetemQdisc = { kind: 'netem', limit };
  const values: Partial<Record<(typeof NETEM_KEYS)[number], number | undefined>> = {
    delay: us(field(o, 'delay', 'delay')),
    jitter: us(field(o, 'delay', 'jitter')) || undefined,
    loss: ppm(field(o, 'loss-random', 'loss')),
    duplicate: ppm(field(o, 'duplicate', 'duplicate')),
    corrupt: ppm(field(o, 'corrupt', 'corrupt')),
    reorder: ppm(field(o, 'reorder', 'reorder')),
  };
  for (const k of NETEM_KEYS) if (values[k] !== undefined) q[k] = values[k];
  const rateBytes = field(o, 'rate', 'rate');
  if (rateBytes) q.rate = rateBytes * 8;
  return { qdisc: q, extras: netemExtras(o) };
}

/** What a netem has that tsnet never sets (correlations, loss models, slots, ecn, overheads, a gap of its own). */
function netemExtras(o: Record<string, unknown>): string[] {
  const extras: string[] = [];
  for (const object of ['delay', 'loss-random', 'duplicate', 'reorder', 'corrupt']) {
    const corr = field(o, object, 'correlation');
    if (corr) extras.push(`${object === 'loss-random' ? 'loss' : object} correlation ${formatPercent(Math.round(corr * 1e6))}`);
  }
  for (const model of ['loss-state', 'loss-gemodel', 'slot']) if (o[model] !== undefined) extras.push(model);
  for (const key of ['packetoverhead', 'cellsize', 'celloverhead']) if (field(o, 'rate', key)) extras.push(`rate ${key} ${String(field(o, 'rate', key))}`);
  if (o.ecn === true) extras.push('ecn');
  const gap = num(o.gap) ?? 0;
  // tc sets gap 1 with reorder; any other gap was set by hand.
  if (gap > 1 || (gap === 1 && !field(o, 'reorder', 'reorder'))) extras.push(`gap ${gap}`);
  return extras;
}

// ---------------------------------------------------------------- comparing

/**
 * Bytes a tbf size (burst, limit) may differ by between what tsnet asked for and what tc shows:
 * two microseconds of the rate, plus 2 bytes. The kernel keeps the bucket as a time (64 ns
 * ticks) and tc 6.1 converts it back through whole microseconds, losing up to one microsecond
 * of the rate (5000 bytes at 40gbit); a limit read back from `lat` loses one more.
 */
export const tbfByteTolerance = (rateBits: number): number => Math.ceil((rateBits / 8) * 2e-6) + 2;

/**
 * Microseconds a netem delay or jitter may differ by: 1 (tc 6.1 prints whole microseconds of
 * 64 ns ticks, so 1us reads back as 0), or six significant digits (JSON floats are %g).
 */
export const timeTolerance = (us: number): number => Math.max(1, Math.ceil(us * 5e-6));

/**
 * The same as the kernel can show it: rates equal in whole bytes per second (what the kernel
 * keeps), sizes and times within the tolerances above, packets and probabilities exactly (parts
 * per million survive %g and the kernel's 32-bit fractions).
 */
export const kernelSame: SameValue = (key, a, b, { rate }) => {
  switch (key) {
    case 'rate':
      return Math.floor((a as number) / 8) === Math.floor((b as number) / 8);
    case 'burst':
      return Math.abs((a as number) - (b as number)) <= tbfByteTolerance(rate ?? 0);
    case 'limit': {
      const [x, y] = [a as Limit, b as Limit];
      if (x.unit !== y.unit) return false;
      return x.unit === 'packets' ? x.value === y.value : Math.abs(x.value - y.value) <= tbfByteTolerance(rate ?? 0);
    }
    case 'delay':
    case 'jitter':
      return Math.abs((a as number) - (b as number)) <= timeTolerance(Math.max(a as number, b as number));
    default:
      return exactlySame(key, a, b, {});
  }
};

/** The kernel's root qdisc as the model sees it: a tbf or netem, or nothing (any other kind). */
const modelled = (root: RootQdisc): Qdisc | undefined => (root.type === 'shaping' ? root.qdisc : undefined);

/** Whether a root qdisc kind is what a tsnet link has when nothing shapes it. */
export const isDefaultQdiscKind = (kind: string): boolean => kind === 'noqueue' || kind === 'noop';

/**
 * What differs between a device's qdiscs and the qdisc the file asks for (undefined: none, the
 * kernel default), as plan lines: "rate 20mbit -> 5mbit", "qdisc htb -> tbf",
 * "loss 1% -> none", "qdisc pfifo under the root -> none". Empty when they match.
 */
export function diffQdisc(desired: Qdisc | undefined, observed: DeviceQdiscs): ShapingChange[] {
  const out: ShapingChange[] = [];
  const root = observed.root;
  if (root.type === 'other' && !isDefaultQdiscKind(root.kind))
    out.push({ key: 'qdisc', before: root.kind, ...(desired ? { after: desired.kind } : {}), text: `qdisc ${root.kind} -> ${desired?.kind ?? 'none'}` });
  out.push(...qdiscChanges(modelled(root), desired, kernelSame));
  if (root.type === 'shaping') for (const extra of root.extras) out.push({ key: 'qdisc', before: extra, text: `${extra} -> none` });
  for (const child of observed.children) out.push({ key: 'qdisc', before: `${child.kind} ${child.handle}`, text: `qdisc ${child.kind} under the root -> none` });
  return out;
}

// ---------------------------------------------------------------- what `ip -json link` tells

/** What a link's qdisc kind (the `qdisc` field of `ip -json link`) says before tc is asked. */
export interface LinkQdiscVerdict {
  /** default: noqueue/noop; tsnet-kind: tbf or netem; foreign: a kind tsnet never sets. */
  state: 'default' | 'tsnet-kind' | 'foreign';
  /**
   * Whether tc must read the link's namespace: whenever the link holds anything but the
   * default (to compare options, to show the change and to undo it exactly). A namespace whose
   * links all hold the default needs no tc process, shaped or not.
   */
  needsTc: boolean;
  /** The difference the kind alone shows ("qdisc noqueue -> tbf"), if any. */
  change?: ShapingChange;
}

/** Judges a link from its `ip -json link` qdisc kind and the qdisc kind the file wants there. */
export function checkLinkQdisc(kind: string | undefined, desired: QdiscKind | undefined): LinkQdiscVerdict {
  const have = kind ?? 'noop';
  const state = isDefaultQdiscKind(have) ? 'default' : have === 'tbf' || have === 'netem' ? 'tsnet-kind' : 'foreign';
  const verdict: LinkQdiscVerdict = { state, needsTc: state !== 'default' };
  const before = state === 'default' ? undefined : have;
  if (before !== desired) verdict.change = { key: 'qdisc', ...(before ? { before } : {}), ...(desired ? { after: desired } : {}), text: `qdisc ${before ?? 'none'} -> ${desired ?? 'none'}` };
  return verdict;
}

// ---------------------------------------------------------------- changing

/** tsnet's interface names (schema.ts IFNAME): checked again here, the last step before tc. */
const IFNAME = /^(?!\.\.?$)[A-Za-z0-9_.@+-]{1,15}$/;
function checkDev(dev: string): string {
  if (!IFNAME.test(dev)) throw new Error(`not an interface name: ${JSON.stringify(dev)}`);
  return dev;
}

/** The tc arguments of a qdisc, in exact units (bit, b, us, %) so nothing is rounded twice. */
export function qdiscArgs(q: Qdisc): string[] {
  if (q.kind === 'tbf') return ['tbf', 'rate', `${q.rate}bit`, 'burst', `${q.burst}b`, 'limit', `${q.limit}b`];
  const args = ['netem', 'limit', String(q.limit)];
  if (q.delay !== undefined) args.push('delay', `${q.delay}us`, ...(q.jitter ? [`${q.jitter}us`] : []));
  if (q.loss) args.push('loss', 'random', formatPercent(q.loss));
  if (q.duplicate) args.push('duplicate', formatPercent(q.duplicate));
  if (q.corrupt) args.push('corrupt', formatPercent(q.corrupt));
  if (q.reorder) args.push('reorder', formatPercent(q.reorder));
  if (q.rate !== undefined) args.push('rate', `${q.rate}bit`);
  return args;
}

/** `tc qdisc replace dev DEV root ...`: sets the qdisc whatever the root holds now. */
export const tcReplaceArgv = (dev: string, q: Qdisc): string[] => ['tc', 'qdisc', 'replace', 'dev', checkDev(dev), 'root', ...qdiscArgs(q)];

/** `tc qdisc del dev DEV root`: back to the kernel default. Fails on a default root ("handle of zero"). */
export const tcDeleteArgv = (dev: string): string[] => ['tc', 'qdisc', 'del', 'dev', checkDev(dev), 'root'];

/**
 * The argv that puts back what a device had (the undo of a replace or a delete): delete for a
 * default root, replace for a tbf or netem tsnet can write; undefined when tsnet cannot restore
 * it exactly (another kind, extras, qdiscs under the root): do not touch such a device.
 */
export function tcRestoreArgv(observed: DeviceQdiscs): string[] | undefined {
  const root = observed.root;
  if (observed.children.length) return undefined;
  if (root.type === 'other') return isDefaultQdiscKind(root.kind) ? tcDeleteArgv(observed.dev) : undefined;
  return root.extras.length ? undefined : tcReplaceArgv(observed.dev, root.qdisc);
}

/** "tbf 20mbit" / "netem 40ms 0.5%": a short label (graphs, show). */
export function shortLabel(q: Qdisc): string {
  if (q.kind === 'tbf') return `tbf ${formatRate(q.rate)}`;
  const parts = [q.delay !== undefined ? formatTime(q.delay) : '', q.loss ? `loss ${formatPercent(q.loss)}` : '', q.rate !== undefined ? formatRate(q.rate) : ''];
  return ['netem', ...parts.filter(Boolean)].join(' ');
}
