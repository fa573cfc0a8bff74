// Before `tsnet check` probes anything: the topology must be applied. Decided here: every
// sandbox a probe starts in or goes to must exist on its host and carry this topology's mark
// (else the check is refused, naming it: "run tsnet apply"); a plan with errors (a name clash)
// is refused too. Drift (a plan with changes while every sandbox is there) is not a refusal: the
// checks run against the kernel as it is, which is what they are for (a route removed by hand
// must make a reach check fail), and the drift is named in a warning.
import { targetOf } from '../exec/target.js';
import { SYMBOL, type Plan } from '../planner/types.js';
import { markText, parseMark } from '../state/ownership.js';
import type { LiveState } from '../state/types.js';
import type { Topology } from '../model/types.js';

/** Why each named sandbox cannot be probed (missing, or not this topology's); empty when all can. */
export function notApplied(topology: Topology, live: LiveState, sandboxes: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of sandboxes) {
    const t = targetOf(topology, topology.sandboxes.get(name)!);
    if (t.ns === null) continue; // the host's own stack
    const onHost = live.hosts.get(t.host)?.namespaces;
    const ns = onHost?.get(t.ns);
    const where = `namespace "${t.ns}"${topology.implicitHost ? '' : ` on host "${t.host}"`}`;
    if (!ns) {
      problems.push(`sandbox "${name}" does not exist: there is no ${where}; run "tsnet apply ${topology.file}" first`);
      continue;
    }
    const want = markText(topology.name, `sandbox.${t.owner ?? name}`);
    const alias = ns.links.find((l) => l.ifname === 'lo')?.alias;
    if (alias === want) continue;
    const mark = parseMark(alias);
    const has = !mark ? 'carries no tsnet mark' : mark.topology !== topology.name ? `belongs to topology "${mark.topology}"` : `is marked "${alias}"`;
    problems.push(`sandbox "${name}": ${where} is not this topology's (its lo ${has}); tsnet checks only what "tsnet apply ${topology.file}" made`);
  }
  return problems;
}

/** The drift a check runs with: one short line, or undefined when the kernel matches the file. */
export function driftWarning(plan: Plan, file: string): string | undefined {
  if (!plan.changes.length) return undefined;
  const shown = plan.changes.slice(0, 5).map((c) => `${SYMBOL[c.action]} ${c.address}`);
  const more = plan.changes.length > shown.length ? `, and ${plan.changes.length - shown.length} more` : '';
  return `the kernel differs from ${file} (${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'}: ${shown.join(', ')}${more}; "tsnet plan ${file}" shows them): the checks run against the kernel as it is`;
}
