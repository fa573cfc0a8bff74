// Where `tsnet exec` runs a sandbox's command: which host, and which namespace on it. Pure: the
// topology file decides; src/exec/check.ts then asks the kernel whether it is there.
import type { Sandbox, Topology } from '../model/types.js';

export interface ExecTarget {
  sandbox: string;
  host: string;
  /** The named namespace the command runs in; null: the host's own stack (mode host). */
  ns: string | null;
  /**
   * The sandbox whose ownership mark that namespace carries on its lo: the sandbox itself, or
   * for a `container:` sandbox the one that owns the namespace it shares. Unset when ns is null.
   */
  owner?: string;
  /** An external sandbox: its namespace is not tsnet's (no mark to check); a pid's is named while tsnet runs (src/state/attach.ts). */
  external?: { pid?: number };
}

export interface Selection {
  /** --all: every sandbox of the file, in file order. */
  all?: boolean;
  names: readonly string[];
}

export interface Resolved {
  targets: ExecTarget[];
  errors: string[];
}

/** The sandbox that owns the namespace a sandbox lives in (itself, or its container: target's). */
function ownerOf(topology: Topology, sb: Sandbox): string | undefined {
  if (sb.ownsNetns) return sb.name;
  return [...topology.sandboxes.values()].find((o) => o.ownsNetns && o.host === sb.host && o.netns === sb.netns)?.name;
}

export function targetOf(topology: Topology, sb: Sandbox): ExecTarget {
  if (sb.netns === null) return { sandbox: sb.name, host: sb.host, ns: null };
  if (sb.external) return { sandbox: sb.name, host: sb.host, ns: sb.netns, external: 'pid' in sb.external ? { pid: sb.external.pid } : {} };
  const owner = ownerOf(topology, sb);
  return { sandbox: sb.name, host: sb.host, ns: sb.netns, ...(owner ? { owner } : {}) };
}

/** The sandboxes named (or all of them), with an error for each name the file does not have. */
export function resolveTargets(topology: Topology, sel: Selection): Resolved {
  if (sel.all && sel.names.length) return { targets: [], errors: ['give sandbox names or --all, not both'] };
  if (!sel.all && !sel.names.length) return { targets: [], errors: [`name a sandbox of ${topology.file}, or give --all`] };
  if (sel.all) return { targets: [...topology.sandboxes.values()].map((sb) => targetOf(topology, sb)), errors: [] };
  const known = [...topology.sandboxes.keys()];
  const targets: ExecTarget[] = [];
  const errors: string[] = [];
  for (const name of new Set(sel.names)) {
    const sb = topology.sandboxes.get(name);
    if (sb) targets.push(targetOf(topology, sb));
    else errors.push(`no sandbox "${name}" in ${topology.file}; its sandboxes: ${known.length ? known.join(', ') : '(none)'}`);
  }
  return { targets, errors };
}
