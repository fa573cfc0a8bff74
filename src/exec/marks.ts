// Reading ownership marks cheaply: the interface names and aliases of many namespaces, one
// `ip -json link show` each, started through the fan-out of src/state/fanout.ts (a few xargs
// workers rather than one Node spawn per namespace: fast at 1000 namespaces). `tsnet exec`
// reads the lo of the namespaces it enters; `tsnet list` and `destroy --name` read every link.
import { runInNamespaces } from '../state/fanout.js';
import { oneLine } from '../state/read.js';
import type { Runner } from '../state/runner.js';

export interface LinkMark {
  ifname: string;
  alias?: string;
}

export type NsLinks = { ok: true; links: LinkMark[] } | { ok: false; gone: boolean; error: string };

/** `lo`: only the loopback (the namespace's mark); `all`: every link. */
export type Which = 'lo' | 'all';

const LINE: Record<Which, string> = { lo: 'link show dev lo\n', all: 'link show\n' };

/** Parses `ip -json link show`: names and aliases. */
export function parseLinkMarks(stdout: string): LinkMark[] {
  const text = stdout.trim();
  if (!text) return [];
  return (JSON.parse(text) as { ifname: string; ifalias?: string }[]).map((l) => (l.ifalias ? { ifname: l.ifname, alias: l.ifalias } : { ifname: l.ifname }));
}

/** A namespace that went away between listing and reading (nsenter or ip cannot find it). */
const isGone = (stderr: string): boolean => /No such file or directory|Cannot open network namespace/.test(stderr);

/** The links of each named namespace of the runner's machine. */
export async function readNsLinks(runner: Runner, names: readonly string[], which: Which, concurrency: number): Promise<Map<string, NsLinks>> {
  const jobs = names.map((ns) => ({ ns, input: LINE[which], outputLines: 1 }));
  const results = await runInNamespaces(runner, ['-json'], jobs, concurrency);
  const out = new Map<string, NsLinks>();
  names.forEach((ns, i) => {
    const res = results[i]!;
    if (res.exitCode !== 0) {
      out.set(ns, { ok: false, gone: isGone(res.stderr), error: oneLine(res.stderr) || `ip exited with ${res.exitCode}` });
      return;
    }
    try {
      out.set(ns, { ok: true, links: parseLinkMarks(res.stdout) });
    } catch (err) {
      out.set(ns, { ok: false, gone: false, error: `unreadable output of ip: ${(err as Error).message}` });
    }
  });
  return out;
}

/** The links of the host's own stack. */
export async function readRootLinks(runner: Runner): Promise<LinkMark[]> {
  const res = await runner.run(['ip', '-json', 'link', 'show']);
  if (res.exitCode !== 0) throw new Error(`cannot read the links of host "${runner.host}" (${runner.describe}): ${oneLine(res.stderr) || `ip exited with ${res.exitCode}`}`);
  return parseLinkMarks(res.stdout);
}
