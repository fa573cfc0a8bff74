// Saved plans: `tsnet plan FILE --out plan.json` writes the plan with fingerprints of the
// topology file and of the owned live state; `tsnet apply plan.json` carries out exactly that
// plan, and refuses it when either fingerprint no longer matches.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { belongsTo, type Session } from '../engine/index.js';
import { SAVED_PLAN_KIND } from '../model/load.js';
import type { Plan } from '../planner/types.js';
import { snapshot, snapshotDiff, type Snapshot } from '../state/fingerprint.js';
import { ExitError, writeOut } from './errors.js';
import { JSON_FORMAT_VERSION } from './output.js';
import { planToJson } from './plan-json.js';

export { SAVED_PLAN_KIND };

export interface SavedPlan {
  format_version: string;
  kind: typeof SAVED_PLAN_KIND;
  created: string;
  topology: string;
  /** Absolute path of the topology file. */
  file: string;
  file_sha256: string;
  state: Snapshot;
  plan: ReturnType<typeof planToJson>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function stateSnapshot(s: Pick<Session, 'topology' | 'runners' | 'live'>, plan: Pick<Plan, 'steps'>): Snapshot {
  return snapshot(s.live, s.topology.name, plan, belongsTo(s));
}

export async function savePlan(path: string, s: Session): Promise<void> {
  const saved: SavedPlan = {
    format_version: JSON_FORMAT_VERSION,
    kind: SAVED_PLAN_KIND,
    created: new Date().toISOString(),
    topology: s.topology.name,
    file: resolve(s.load.source.file),
    file_sha256: sha256(s.load.source.text),
    state: stateSnapshot(s, s.plan),
    plan: planToJson(s.plan, s.load.source.file),
  };
  if (path === '-') throw new ExitError('--out takes a file name: a saved plan is applied from a file ("tsnet apply plan.json")');
  writeOut(path, `${JSON.stringify(saved, null, 2)}\n`);
}

/** The saved plan in `path`, or undefined when the file is not one (a topology file). */
export function readSavedPlan(path: string): SavedPlan | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.trimStart().startsWith('{')) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const saved = data as Partial<SavedPlan>;
  if (saved?.kind !== SAVED_PLAN_KIND) return undefined;
  if (typeof saved.format_version !== 'string' || saved.format_version.split('.')[0] !== JSON_FORMAT_VERSION.split('.')[0])
    throw new ExitError(`${path} is a saved plan of format ${String(saved.format_version)}; this tsnet reads format ${JSON_FORMAT_VERSION.split('.')[0]}.x`);
  const missing = savedPlanProblems(saved);
  if (missing.length) throw new ExitError(`${path} is not a complete saved plan (${missing.join(', ')}); make a new one with "tsnet plan FILE --out ${path}"`);
  return saved as SavedPlan;
}

/** What a saved plan lacks that apply needs (a file edited or cut short). */
function savedPlanProblems(saved: Partial<SavedPlan>): string[] {
  const out: string[] = [];
  const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof saved.file !== 'string') out.push('"file" is not a string');
  if (typeof saved.file_sha256 !== 'string') out.push('"file_sha256" is not a string');
  if (typeof saved.state?.sha256 !== 'string' || !isStrings(saved.state?.lines)) out.push('"state" lacks its sha256 or lines');
  const p = saved.plan as Partial<SavedPlan['plan']> | undefined;
  if (!p || typeof p !== 'object') out.push('"plan" is missing');
  else {
    if (typeof p.topology !== 'string') out.push('"plan.topology" is not a string');
    if (!isStrings(p.hosts)) out.push('"plan.hosts" is not a list of names');
    if (!Array.isArray(p.changes)) out.push('"plan.changes" is not a list');
    const lists = ['do', 'undo', 'after', 'creates', 'deletes', 'marks'] as const;
    if (!Array.isArray(p.steps) || !p.steps.every((st) => st && typeof st === 'object' && lists.every((k) => Array.isArray(st[k]))))
      out.push(`"plan.steps" is not a list of steps with ${lists.join(', ')} (a plan of an older tsnet?)`);
  }
  return out;
}

/**
 * Throws unless the saved plan's steps are exactly those tsnet plans now from the same file and
 * state: a saved plan never runs a command the planner would not (a hand-edited step).
 */
export function checkSteps(saved: SavedPlan, path: string, fresh: Plan): void {
  if (fresh.errors.length)
    throw new ExitError(
      `the plan tsnet makes now for ${saved.file} has errors, so ${path} is not run:\n${fresh.errors.map((e) => `  ${e.address}: ${e.message}`).join('\n')}`,
    );
  const key = (steps: readonly Plan['steps'][number][]) =>
    JSON.stringify(
      steps.map((st) => [
        st.id,
        st.host,
        st.address,
        st.phase,
        st.ns,
        st.tool,
        st.isDeletion,
        st.do,
        st.undo.map((u) => [u.host, u.ns, u.tool, u.argv, u.creates ?? [], u.deletes ?? []]),
        st.creates,
        st.deletes,
        st.marks,
        [...st.after].sort(),
      ]),
    );
  if (key(saved.plan.steps) !== key(fresh.steps))
    throw new ExitError(`the steps in ${path} are not the ones tsnet plans for ${saved.file} now (was the file edited?); make a new plan with "tsnet plan ${saved.file} --out ${path}"`);
}

/** Throws when the topology file changed since the plan was made. */
export function checkFile(saved: SavedPlan, path: string): void {
  let text: string;
  try {
    text = readFileSync(saved.file, 'utf8');
  } catch {
    throw new ExitError(`the saved plan ${path} was made from ${saved.file}, which cannot be read any more`);
  }
  if (sha256(text) !== saved.file_sha256)
    throw new ExitError(`the topology file ${saved.file} changed since the plan ${path} was made; make a new plan with "tsnet plan ${saved.file} --out ${path}"`);
}

/** Throws, saying what changed, when the owned live state differs from the plan's. */
export function checkState(saved: SavedPlan, path: string, s: Session): void {
  const now = stateSnapshot(s, { steps: saved.plan.steps });
  if (now.sha256 === saved.state.sha256) return;
  const diff = snapshotDiff(saved.state.lines, now.lines);
  throw new ExitError(
    `the kernel changed since this plan was made (${path}, ${saved.created}):\n${diff.slice(0, 20).map((l) => `  ${l}`).join('\n')}${diff.length > 20 ? `\n  ... and ${diff.length - 20} more` : ''}\nMake a new plan with "tsnet plan ${saved.file} --out ${path}".`,
  );
}

/** The saved plan as a Plan the executor runs. */
export function toPlan(saved: SavedPlan): Plan {
  const p = saved.plan;
  return {
    topology: p.topology,
    hosts: p.hosts,
    implicitHost: p.implicit_host,
    errors: [],
    changes: p.changes.map(({ symbol: _symbol, ...c }) => c),
    steps: p.steps,
  };
}
