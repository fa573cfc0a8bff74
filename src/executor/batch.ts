// Grouping steps into batches: one process per (host, namespace, tool) per round, rounds in
// dependency order, deletions before everything else.
import { isDeletion } from '../planner/plan.js';
import type { Command, Step, Tool } from '../planner/types.js';

export interface Batch {
  host: string;
  ns: string | null;
  tool: Tool;
  level: number;
  steps: Step[];
}

export const groupKey = (s: { host: string; ns: string | null; tool: Tool }): string => `${s.host}\u0000${s.ns ?? ''}\u0000${s.tool}`;

/**
 * Levels: a step runs at the level of its latest dependency, or one later when that
 * dependency runs in another process. Steps of one group at one level form one batch, in plan
 * order. `steps` must be topologically ordered (plan() returns them so).
 */
export function toBatches(steps: readonly Step[]): Batch[] {
  const level = new Map<string, number>();
  const group = new Map<string, string>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  let lastDeletionLevel = -1;
  for (const s of steps) if (isDeletion(s)) lastDeletionLevel = Math.max(lastDeletionLevel, 0);
  // Two passes: deletions, then the rest starting after the last deletion level.
  for (const pass of [true, false]) {
    for (const s of steps) {
      if (isDeletion(s) !== pass) continue;
      const g = groupKey(s);
      group.set(s.id, g);
      let l = pass ? 0 : lastDeletionLevel + 1;
      for (const d of s.after) {
        const dl = level.get(d);
        if (dl === undefined || !byId.has(d)) continue;
        l = Math.max(l, group.get(d) === g ? dl : dl + 1);
      }
      level.set(s.id, l);
      if (pass) lastDeletionLevel = Math.max(lastDeletionLevel, l);
    }
  }
  const batches = new Map<string, Batch>();
  for (const s of steps) {
    const l = level.get(s.id)!;
    const key = `${l}\u0000${group.get(s.id)}`;
    let b = batches.get(key);
    if (!b) {
      b = { host: s.host, ns: s.ns, tool: s.tool, level: l, steps: [] };
      batches.set(key, b);
    }
    b.steps.push(s);
  }
  return [...batches.values()].sort((a, b) => a.level - b.level);
}

const SAFE_ARG = /^[A-Za-z0-9_.:/@+=,%-]+$/;

/**
 * One batch line from an argv. ip and bridge split batch lines on whitespace and give quotes
 * and '#' meaning, so every argument must be a plain token: names reach here only after the
 * schema accepted them, and anything else is a bug, never passed on.
 */
export function batchLine(argv: readonly string[]): string {
  for (const a of argv) {
    if (!SAFE_ARG.test(a)) throw new Error(`internal: refusing to pass ${JSON.stringify(a)} to a batch: not a plain token`);
  }
  return argv.join(' ');
}

/** A sysctl `key=value` argument: one argv entry (never a shell word), refused if it could span lines. */
export function sysctlArg(argv: readonly string[]): string {
  const arg = argv.join(' ');
  if (/[\n\r\0]/.test(arg) || !/^net\.[A-Za-z0-9_./-]+=/.test(arg)) throw new Error(`internal: refusing sysctl argument ${JSON.stringify(arg)}`);
  return arg;
}

/** Merges consecutive commands for the same (host, ns, tool) into batches, keeping order. */
export function commandBatches(commands: readonly Command[]): { host: string; ns: string | null; tool: Tool; lines: string[][] }[] {
  const out: { host: string; ns: string | null; tool: Tool; lines: string[][] }[] = [];
  for (const c of commands) {
    const last = out[out.length - 1];
    if (last && last.host === c.host && last.ns === c.ns && last.tool === c.tool) last.lines.push(c.argv);
    else out.push({ host: c.host, ns: c.ns, tool: c.tool, lines: [c.argv] });
  }
  return out;
}
