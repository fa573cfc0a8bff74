// The plan as JSON (format_version "1.x"; README "JSON output", schemas/plan.schema.json).
import type { Runner } from '../state/runner.js';
import { countChanges, SYMBOL, type Plan } from '../planner/types.js';
import { JSON_FORMAT_VERSION } from './output.js';

export function planToJson(plan: Plan, file: string) {
  return {
    format_version: JSON_FORMAT_VERSION,
    topology: plan.topology,
    file,
    hosts: plan.hosts,
    implicit_host: plan.implicitHost,
    notes: plan.notes ?? [],
    errors: plan.errors,
    changes: plan.changes.map((c) => ({ ...c, symbol: SYMBOL[c.action] })),
    summary: countChanges(plan.changes),
    steps: plan.steps,
  };
}

export const hostDescriptions = (runners: ReadonlyMap<string, Runner>): Map<string, string> =>
  new Map([...runners.values()].map((r) => [r.host, r.describe]));
