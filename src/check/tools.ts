// The programs probes run with, per host. On this machine and on netns hosts (this machine's
// kernel and files) that is the Node running tsnet (process.execPath) and ping. An ssh host may
// have neither: it is asked once per run which of node, python3 and ping it has, and a probe
// that needs what is missing gets an error naming it, rather than a guess.
import type { Runner } from '../state/runner.js';
import { DETECT_TOOLS, NODE_CLIENT, NODE_LISTENER, PY_CLIENT, PY_LISTENER } from './scripts.js';

export interface HostTools {
  /** What runs the TCP/UDP client and the listener; undefined: neither node nor python3. */
  client?: { kind: 'node' | 'python3'; path: string };
  /** ping's path; undefined: none. */
  ping?: string;
  /** Why the host could not be asked (an ssh host out of reach). */
  error?: string;
}

/** Parses DETECT_TOOLS' "NAME PATH" lines. */
export function parseTools(stdout: string): HostTools {
  const found = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) (\/\S.*)$/.exec(line.trim());
    if (m) found.set(m[1]!, m[2]!);
  }
  const node = found.get('node') ?? found.get('nodejs');
  const python = found.get('python3');
  const client = node ? { kind: 'node' as const, path: node } : python ? { kind: 'python3' as const, path: python } : undefined;
  return { ...(client ? { client } : {}), ...(found.has('ping') ? { ping: found.get('ping')! } : {}) };
}

/** This machine's tools serve its own and its netns hosts; an ssh host is asked. */
export async function detectTools(runner: Runner): Promise<HostTools> {
  if (runner.machine === 'local') return { client: { kind: 'node', path: process.execPath }, ping: 'ping' };
  const res = await runner.run(['sh', '-c', DETECT_TOOLS]);
  return parseTools(res.stdout);
}

/** The argv of the client or the listener with its arguments. */
export function programArgv(client: NonNullable<HostTools['client']>, program: 'client' | 'listener', args: readonly string[]): string[] {
  const script = client.kind === 'node' ? (program === 'client' ? NODE_CLIENT : NODE_LISTENER) : program === 'client' ? PY_CLIENT : PY_LISTENER;
  return [client.path, client.kind === 'node' ? '-e' : '-c', script, ...args];
}

/** Why a host cannot run a probe that needs `what`; undefined when it can. */
export function missingTool(runner: Runner, tools: HostTools, what: 'client' | 'ping'): string | undefined {
  if (tools.error) return tools.error;
  if (what === 'client' && !tools.client)
    return `host "${runner.host}" (${runner.describe}) has neither node nor python3, which tcp and udp checks need there`;
  if (what === 'ping' && !tools.ping) return `host "${runner.host}" (${runner.describe}) has no ping, which icmp checks need there`;
  return undefined;
}
