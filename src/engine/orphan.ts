// `tsnet destroy --name NAME`: remove a topology whose file is gone. Without the file there is
// no desired state to diff against, and none is needed: destroy's desired state is empty
// anyway. So the hosts are read as for any destroy and the ordinary planner deletes what
// carries NAME's marks, with every safety rule of a destroy (foreign objects never in the plan,
// a namespace holding interfaces tsnet does not own refused, held namespaces emptied first).
//
// What is lost with the file is the list of hosts. The caller passes the hosts of the last
// apply's record when there is one; otherwise this machine is read, together with the
// namespaces on it that hold NAME's host-side objects (a bridge, a VXLAN device, veth host
// ends): namespaces standing for netns hosts. Objects on ssh hosts cannot be found that way,
// and the plan says so.
import { SourceFile } from '../model/source.js';
import { IMPLICIT_HOST, type Host, type Topology } from '../model/types.js';
import type { Spec } from '../planner/desired.js';
import { readMachineMarks } from '../exec/inventory.js';
import { PEER_SUFFIX } from '../appliers/common.js';
import { natTableName } from '../state/nft.js';
import { parseMark } from '../state/ownership.js';
import { readState } from '../state/read.js';
import { LocalRunner } from '../state/runner.js';
import { closeRunners, journalState, planFor, runnersFor, type EngineOptions, type Session } from './index.js';

export interface OrphanOptions extends Pick<EngineOptions, 'runnerFactory' | 'concurrency'> {
  /** The hosts of the topology's last apply (its record); absent: this machine, found from marks. */
  hosts?: readonly Host[];
  /** What the plan calls the topology in messages (the recorded file, or the name). */
  label?: string;
  /** Notes the caller wants first in the plan (where the hosts came from). */
  notes?: readonly string[];
}

/**
 * The namespaces of this machine that stand for hosts of `topology`: not sandboxes themselves
 * (no tsnet mark on lo), holding its host-side objects (networks' bridges and VXLAN devices,
 * veth host ends). Pure.
 */
export function hostNamespaces(topology: string, namespaces: ReadonlyMap<string, readonly { ifname: string; alias?: string }[]>): string[] {
  const out: string[] = [];
  for (const [ns, links] of namespaces) {
    if (parseMark(links.find((l) => l.ifname === 'lo')?.alias)) continue;
    const holds = links.some((l) => {
      const mark = parseMark(l.alias);
      return mark?.topology === topology && (mark.address.startsWith('network.') || mark.address.endsWith(PEER_SUFFIX));
    });
    if (holds) out.push(ns);
  }
  return out.sort();
}

/** This machine, and the namespaces on it standing for the topology's netns hosts. */
async function discoverHosts(topology: string): Promise<{ hosts: Host[]; note: string }> {
  const marks = await readMachineMarks(new LocalRunner(IMPLICIT_HOST), { tables: false });
  const found = hostNamespaces(topology, marks.namespaces);
  const hosts: Host[] = [{ name: IMPLICIT_HOST, via: { kind: 'local' } }, ...found.map((ns) => ({ name: ns === IMPLICIT_HOST ? `netns-${ns}` : ns, via: { kind: 'netns' as const, netns: ns } }))];
  const where = found.length ? `its own stack and ${found.length === 1 ? 'the namespace' : 'the namespaces'} standing for hosts that hold the topology's objects (${found.join(', ')})` : 'its own stack and its namespaces';
  return { hosts, note: `Only this machine was read: ${where}. Whatever "${topology}" has on hosts reached over ssh is not seen.` };
}

/** Plans the deletion of everything that carries the topology's marks on the hosts. */
export async function orphanSession(name: string, opts: OrphanOptions = {}): Promise<Session> {
  const discovered = opts.hosts ? undefined : await discoverHosts(name);
  const hosts = opts.hosts ? [...opts.hosts] : discovered!.hosts;
  const label = opts.label ?? name;
  const topology: Topology = {
    name,
    file: label,
    hosts: new Map(hosts.map((h) => [h.name, h])),
    networks: new Map(),
    sandboxes: new Map(),
    implicitHost: hosts.length === 1 && hosts[0]!.via.kind === 'local' && !opts.hosts,
  };
  if (hosts.some((h) => h.via.kind === 'ssh')) await import('../state/ssh.js');
  const runners = runnersFor(topology, opts);
  // Every host's forwarding and neighbour entries are read: a VXLAN device's deletion must be
  // able to put them back on rollback, and which hosts had overlays is not known here.
  const readOptions = { sysctls: new Map<string, string[]>(), overlayHosts: new Set(hosts.map((h) => h.name)), natTable: natTableName(name), names: { topology: name, namespaces: new Map<string, string[]>() }, ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) };
  let live;
  try {
    live = await readState([...runners.values()], readOptions);
  } catch (err) {
    await closeRunners(runners);
    throw err;
  }
  const desired = new Map(hosts.map((h) => [h.name, new Map<string, Spec>()]));
  const { interrupted, damage } = journalState(name);
  // As destroy says it: everything goes, so the planner drops the reasons (but for marks).
  const plan = planFor(topology, desired, live, runners, { ...(interrupted ? { interrupted } : {}), destroy: true });
  const notes = [...(opts.notes ?? []), ...(discovered ? [discovered.note] : []), ...(damage ? [`The journal of the last run is damaged: ${damage}. What an interrupted run half made cannot be recognised from it: unmarked objects are left alone.`] : [])];
  if (notes.length) plan.notes = [...notes, ...(plan.notes ?? [])];
  return { load: { source: new SourceFile(label, ''), diagnostics: [] }, topology, runners, live, desired, plan, readOptions };
}
