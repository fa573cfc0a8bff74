// Hosts simulated in the lab: one network namespace per host (tsnet reaches it with a netns
// runner), all joined by an underlay, a bridge in the lab's own stack with one veth per host:
//
//   <prefix>-h1 [wire 198.19.x.1/24] --veth-- [<bridge>] --veth-- [wire 198.19.x.2/24] <prefix>-h2
//
// The addresses come from the benchmark range and exist only inside the lab.
import { deleteNetns, ipBatch, must, run } from './kernel.js';

export interface SimHost {
  /** The topology's name for the host, e.g. "h1". */
  name: string;
  netns: string;
  underlay: string;
}

export interface Underlay {
  bridge: string;
  hosts: SimHost[];
  /** Adds one more host to the underlay. */
  add(host: SimHost): Promise<void>;
  /** Deletes the host namespaces (their wires go with them) and the bridge. */
  remove(): Promise<void>;
}

/** `bridge` (at most 15 bytes) is made in the lab's stack; each host's wire is called "wire". */
export async function makeUnderlay(bridge: string, hosts: readonly SimHost[], prefixLength = 24): Promise<Underlay> {
  await must(['ip', 'link', 'add', bridge, 'type', 'bridge']);
  await must(['ip', 'link', 'set', bridge, 'up']);
  const made: SimHost[] = [];
  const add = async (h: SimHost) => {
    await must(['ip', 'netns', 'add', h.netns]);
    made.push(h);
    const port = `${bridge}-${h.name}`.slice(0, 15);
    await ipBatch([`link add ${port} type veth peer name wire netns ${h.netns}`, `link set ${port} master ${bridge} up`]);
    await ipBatch([`link set lo up`, `addr add ${h.underlay}/${prefixLength} dev wire`, `link set wire up`], h.netns);
  };
  for (const h of hosts) await add(h);
  return {
    bridge,
    hosts: made,
    add,
    async remove() {
      await deleteNetns(made.map((h) => h.netns));
      await run(['ip', 'link', 'del', bridge]);
    },
  };
}
