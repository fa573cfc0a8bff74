// Helpers of the macvlan, overlay and ssh kernel tests, on top of test/support/lab.ts (the lab
// guard, and run/must, which refuse to start anything outside the lab): read kernel state with
// `ip -json`, run the tsnet CLI with an environment, parse plans.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, must, netnsNames, pings, ROOT, run, type Ran } from './lab.js';

export { eventually, must, pings, run, type Ran };
export const netnsList = netnsNames;

const BIN = join(ROOT, 'bin', 'tsnet.js');

/** Several ip commands in one `ip -batch -` process (fails on the first error). */
export async function ipBatch(lines: readonly string[], ns?: string): Promise<void> {
  const res = await run(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n`, ...(ns ? { ns } : {}) });
  if (res.code !== 0) throw new Error(`ip -batch${ns ? ` in ${ns}` : ''} failed:\n${res.all}\n${lines.join('\n')}`);
}

/** The tsnet CLI, as a user runs it, with extra environment (e.g. TSNET_SSH_CONFIG). */
export const tsnet = (args: readonly string[], env: Record<string, string> = {}): Promise<Ran> => run(['node', BIN, ...args], { env: { NO_COLOR: '1', ...env } });

export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  ifalias?: string;
  link_index?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  stats64?: { rx: { packets: number }; tx: { packets: number } };
  [key: string]: unknown;
}

/** `ip -d -json link show [dev]` in a namespace (undefined: the lab's own stack). */
export async function links(ns?: string, dev?: string, stats = false): Promise<IpLink[]> {
  const out = await must(['ip', ...(stats ? ['-s'] : []), '-d', '-json', 'link', 'show', ...(dev ? ['dev', dev] : [])], ns ? { ns } : {});
  return JSON.parse(out) as IpLink[];
}

export async function link(ns: string | undefined, dev: string, stats = false): Promise<IpLink> {
  const [l] = await links(ns, dev, stats);
  if (!l) throw new Error(`no link ${dev}${ns ? ` in ${ns}` : ''}`);
  return l;
}

export const linkNames = async (ns?: string): Promise<string[]> => (await links(ns)).map((l) => l.ifname).sort();

/** Identity of a named namespace: its inode (a namespace made again gets a new one). */
export const netnsInode = (ns: string): number => statSync(`/run/netns/${ns}`).ino;

/** Deletes the named namespaces that exist (cleanup; the kernel frees their links). */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  const existing = new Set(await netnsList());
  for (const n of names) if (existing.has(n)) await run(['ip', 'netns', 'del', n]);
}

/**
 * The changes of a `tsnet plan` text, per host ("" when the topology has no hosts): for each
 * change line ("+ sandbox.a", "~ network.red", "-/+ endpoint.a.eth0") the reasons printed under it.
 */
export function parsePlan(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let host = '';
  let reasons: string[] | undefined;
  for (const line of text.split('\n')) {
    const h = /^Host (\S+)/.exec(line);
    if (h) {
      host = h[1]!;
      out.set(host, new Map());
      reasons = undefined;
      continue;
    }
    const c = /^ {0,2}(-\/\+|\+\/-|[+~-]) (\S+)/.exec(line);
    if (c) {
      if (!out.has(host)) out.set(host, new Map());
      reasons = [];
      out.get(host)!.set(`${c[1]} ${c[2]}`, reasons);
    } else if (reasons && /^ {4,}\S/.test(line)) reasons.push(line.trim());
    else reasons = undefined;
  }
  return out;
}

/** The change lines of a `tsnet plan` text per host, e.g. "h1" -> ["~ network.red"]. */
export const planChanges = (text: string): Map<string, string[]> => new Map([...parsePlan(text)].map(([h, c]) => [h, [...c.keys()]]));
