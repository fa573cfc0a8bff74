// Real traffic between two lab namespaces: TCP throughput measured at the receiver
// (test/support/traffic-peer.mjs, a few lines of Node at each end, so nothing needs installing),
// and round-trip times with ping. Every process is started through lab.ts, which refuses to run
// anything outside the lab, and every measurement is bounded in time.
import { join } from 'node:path';
import { ROOT, run, start } from './lab.js';

const PEER = join(ROOT, 'test', 'support', 'traffic-peer.mjs');

export interface Throughput {
  bitsPerSecond: number;
  bytes: number;
  /** The receiver's window: from the first byte, `seconds` long. */
  seconds: number;
}

export interface ThroughputOptions {
  /** Namespace that sends. */
  from: string;
  /** Namespace that receives. */
  to: string;
  /** The receiver's address, as the sender reaches it. */
  address: string;
  /** Length of the measurement; default 3 s. */
  seconds?: number;
  port?: number;
}

/**
 * Sends TCP from `from` to `to` for a bounded time and returns the rate the receiver saw. Throws
 * with both ends' output when either fails (nothing arrives within seconds + 10 s, a refused
 * connection after retrying, an error).
 */
export async function measureThroughput(opts: ThroughputOptions): Promise<Throughput> {
  const seconds = opts.seconds ?? 3;
  const port = String(opts.port ?? 5201);
  const receiver = start(['node', PEER, 'receive', port, String(seconds)], { ns: opts.to });
  const sender = await run(['node', PEER, 'send', opts.address, port, String(seconds)], { ns: opts.from });
  const received = await receiver.done;
  const fail = (why: string) => new Error(`throughput ${opts.from} -> ${opts.to} (${opts.address}): ${why}\nreceiver: ${received.all}\nsender (exit ${sender.code}): ${sender.all}`);
  if (received.code !== 0) throw fail(`the receiver exited with ${received.code}`);
  const result = JSON.parse(received.stdout.trim().split('\n').pop() ?? '{}') as Partial<Throughput>;
  if (typeof result.bitsPerSecond !== 'number' || typeof result.bytes !== 'number' || typeof result.seconds !== 'number') throw fail('no measurement');
  return { bitsPerSecond: result.bitsPerSecond, bytes: result.bytes, seconds: result.seconds };
}

export interface RoundTrip {
  minMs: number;
  avgMs: number;
  maxMs: number;
}

/** `count` pings (0.2 s apart, 1 s to answer each) from a namespace; throws unless every one is answered. */
export async function measureRtt(from: string, address: string, count = 5): Promise<RoundTrip> {
  const res = await run(['ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', address], { ns: from });
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(res.stdout);
  if (res.code !== 0 || !m) throw new Error(`ping ${address} from ${from} failed (exit ${res.code}):\n${res.all}`);
  return { minMs: Number(m[1]), avgMs: Number(m[2]), maxMs: Number(m[3]) };
}

/** "19.1 Mbit/s", for assertion messages. */
export const mbit = (bitsPerSecond: number): string => `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
