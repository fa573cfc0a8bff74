// External sandboxes given by a process (`external: true, pid: N`): while tsnet runs, the
// process's network namespace gets a name in /run/netns (`ip netns attach NAME PID`, a bind
// mount), so that reading, batches and `ip netns exec` reach it like any named namespace; the
// name goes again when the runners close (`ip netns del NAME` removes only the name: the
// process keeps its namespace). A name left by a run that was killed is taken over when it is
// the same namespace, and removed at the end.
import type { Topology } from '../model/types.js';
import type { PlanError } from '../planner/types.js';
import { oneLine } from './read.js';
import { NETNS_DIR, type Runner } from './runner.js';

export interface Attached {
  /** Why a process's namespace could not be named (the process being gone is the planner's to say). */
  errors: PlanError[];
}

/** Names the namespaces of the topology's pid sandboxes; each runner's close() removes its names first. */
export async function attachPids(topology: Topology, runners: ReadonlyMap<string, Runner>): Promise<Attached> {
  const errors: PlanError[] = [];
  const made = new Map<Runner, string[]>();
  for (const sb of topology.sandboxes.values()) {
    if (!sb.external || !('pid' in sb.external) || sb.netns === null) continue;
    const runner = runners.get(sb.host);
    if (!runner) continue;
    const { pid } = sb.external;
    const name = sb.netns;
    const address = `sandbox.${sb.name}`;
    // Inodes of the process's namespace and of the name, where they exist.
    const stat = await runner.run(['stat', '-L', '-c', '%n %i', `/proc/${pid}/ns/net`, `${NETNS_DIR}/${name}`]);
    const inodes = new Map(stat.stdout.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
    const target = inodes.get(`/proc/${pid}/ns/net`);
    if (target === undefined) continue; // gone: the sandbox's plan says so
    const held = inodes.get(`${NETNS_DIR}/${name}`);
    if (held !== undefined && held !== target) {
      errors.push({ host: sb.host, address, message: `cannot name the namespace of process ${pid} "${name}": the name is taken by another namespace` });
      continue;
    }
    if (held === undefined) {
      const res = await runner.run(['ip', 'netns', 'attach', name, String(pid)]);
      if (res.exitCode !== 0) {
        errors.push({ host: sb.host, address, message: `cannot attach the namespace of process ${pid} as "${name}": ${oneLine(res.stderr)}` });
        continue;
      }
    }
    made.set(runner, [...(made.get(runner) ?? []), name]);
  }
  for (const [runner, names] of made) {
    const close = runner.close.bind(runner);
    // The names go before the runner's connection does (ssh): never left behind.
    runner.close = async () => {
      for (const name of names) await runner.run(['ip', 'netns', 'del', name]);
      await close();
    };
  }
  return { errors };
}
