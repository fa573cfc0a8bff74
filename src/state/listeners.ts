// Sockets listening on a host's own stack, read with `ss` (iproute2) through the runner, so a
// published port that something already listens on is a plan error naming the process.
import type { Runner } from './runner.js';

export interface KListener {
  proto: 'tcp' | 'udp';
  /** The local address without brackets or zone: "0.0.0.0", "::", "*", "127.0.0.1". */
  address: string;
  port: number;
  /** "sshd (pid 412)" when ss may show it. */
  process?: string;
}

export const SS_ARGV: readonly string[] = ['ss', '-H', '-l', '-n', '-t', '-u', '-p'];

/** Parses `ss -H -l -n -t -u -p`: "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=412,fd=3))". */
export function parseSs(stdout: string): KListener[] {
  const out: KListener[] = [];
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0] === 'tcp' || cols[0] === 'udp' ? cols[0] : undefined;
    const local = cols[4]!;
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    if (!proto || colon < 0 || !Number.isInteger(port)) continue;
    const address = local.slice(0, colon).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const users = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    out.push({ proto, address, port, ...(users ? { process: `${users[1]} (pid ${users[2]})` } : {}) });
  }
  return out;
}

/** The listeners of a host's own stack; an error when ss cannot be run (never "none"). */
export async function readListeners(runner: Runner): Promise<KListener[]> {
  const res = await runner.run([...SS_ARGV]);
  if (res.exitCode !== 0) throw new Error(`cannot list the sockets listening on host "${runner.host}" (ss): ${res.stderr.trim().split('\n')[0] || `exit ${res.exitCode}`}`);
  return parseSs(res.stdout);
}
