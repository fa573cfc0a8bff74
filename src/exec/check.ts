// Before `tsnet exec` runs anything: every namespace it would enter must exist and carry this
// topology's mark on its lo (a namespace of the same name made by someone else is not the
// sandbox), and a netns host's own namespace must exist. One error per problem, naming it.
import type { Topology } from '../model/types.js';
import { defaultConcurrency } from '../state/read.js';
import { markText, parseMark } from '../state/ownership.js';
import type { Runner } from '../state/runner.js';
import { readNsLinks, type NsLinks } from './marks.js';
import type { ExecTarget } from './target.js';

/** What is wrong with one target, given what the kernel holds; undefined when it is fine. */
export function targetProblem(
  topology: Pick<Topology, 'name' | 'file'>,
  target: ExecTarget,
  where: string,
  listed: ReadonlySet<string>,
  read: NsLinks | undefined,
): string | undefined {
  const apply = `run "tsnet apply ${topology.file}" to make it`;
  if (target.ns === null) return undefined;
  const ns = `namespace "${target.ns}" on host ${where}`;
  if (target.external) {
    // Not tsnet's: there is no mark to check, only that it is there.
    if (listed.has(target.ns) && !(read && !read.ok && read.gone)) return undefined;
    const pid = target.external.pid;
    return pid !== undefined
      ? `sandbox "${target.sandbox}": process ${pid} is gone (no /proc/${pid}/ns/net on host ${where})`
      : `sandbox "${target.sandbox}" is external, but there is no ${ns}: tsnet does not make external namespaces`;
  }
  if (!listed.has(target.ns) || (read && !read.ok && read.gone)) return `sandbox "${target.sandbox}" does not exist: there is no ${ns}; ${apply}`;
  if (!read) return undefined;
  if (!read.ok) return `sandbox "${target.sandbox}": cannot read ${ns}: ${read.error}`;
  if (!target.owner) return `sandbox "${target.sandbox}": no sandbox of ${topology.file} owns ${ns}`;
  const want = markText(topology.name, `sandbox.${target.owner}`);
  const alias = read.links.find((l) => l.ifname === 'lo')?.alias;
  if (alias === want) return undefined;
  const mark = parseMark(alias);
  const has = !mark ? 'carries no tsnet mark: it was not made by tsnet' : mark.topology !== topology.name ? `belongs to topology "${mark.topology}"` : `is marked "${alias}"`;
  return `sandbox "${target.sandbox}": ${ns} is not this topology's sandbox (its lo ${has}, not "${want}"); tsnet exec enters only namespaces that "tsnet apply ${topology.file}" made`;
}

const hostWhere = (runner: Runner) => `"${runner.host}" (${runner.describe})`;

/** Checks the targets against the kernel: the problems found, one line each. */
export async function checkTargets(topology: Topology, targets: readonly ExecTarget[], runners: ReadonlyMap<string, Runner>): Promise<string[]> {
  const problems: string[] = [];
  const byHost = new Map<string, ExecTarget[]>();
  for (const t of targets) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  // Hosts one after the other keeps the order of the messages stable; the reads inside a host
  // run in parallel.
  for (const [host, list] of byHost) {
    const runner = runners.get(host)!;
    const hostNs = topology.hosts.get(host)?.via;
    const needsList = list.some((t) => t.ns !== null) || hostNs?.kind === 'netns';
    if (!needsList) continue;
    const listed = new Set(await runner.listNetns());
    if (hostNs?.kind === 'netns' && !listed.has(hostNs.netns)) {
      problems.push(`host "${host}" stands for namespace "${hostNs.netns}", which does not exist`);
      continue;
    }
    const toRead = [...new Set(list.flatMap((t) => (t.ns !== null && listed.has(t.ns) ? [t.ns] : [])))];
    const reads = await readNsLinks(runner, toRead, 'lo', defaultConcurrency());
    for (const t of list) {
      const problem = targetProblem(topology, t, hostWhere(runner), listed, t.ns === null ? undefined : reads.get(t.ns));
      if (problem) problems.push(problem);
    }
  }
  return problems;
}
