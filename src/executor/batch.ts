// Grouping steps into batches: one process per (host, namespace, tool) per round, rounds in
// dependency order, deletions before everything else.
import type { Command, Step, Tool } from '../planner/types.js';
import { toolFor } from './tools/index.js';
import type { Batch } from './tools/types.js';

export type { Batch };

export const groupKey = (s: { host: string; ns: string | null; tool: string }): string => `${s.host}\u0000${s.ns ?? ''}\u0000${s.tool}`;

/**
 * Levels: a step runs at the level of its latest dependency, or one later when that
 * dependency runs in another process. Steps of one group at one level form one batch, in plan
 * order. `steps` must be topologically ordered (plan() returns them so).
 */
export function toBatches(steps: readonly Step[]): Batch[] {
  const level = new Map<string, number>();
  const group = new Map<string, string>();
  let lastDeletionLevel = steps.some((s) => s.isDeletion) ? 0 : -1;
  // Two passes: deletions, then the rest starting after the last deletion level.
  for (const pass of [true, false]) {
    for (const s of steps) {
      if (s.isDeletion !== pass) continue;
      const g = groupKey(s);
      group.set(s.id, g);
      let l = pass ? 0 : lastDeletionLevel + 1;
      for (const d of s.after) {
        const dl = level.get(d);
        if (dl === undefined) continue;
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

/** A batch with the batches it waits for (by index). */
export interface ScheduledBatch extends Batch {
  index: number;
  deps: Set<number>;
}

/** A host-stack batch with this many steps or more is cut into chunks. */
export const CHUNK_MIN_STEPS = 48;
/** Into how many chunks. */
export const CHUNKS = 4;

/**
 * The batches of a plan with what each waits for, so that a batch can start as soon as the
 * steps it depends on are done rather than when a whole level is. Large batches in a host's
 * own stack are cut into chunks (where the tool allows it): with the plan ordered sandbox by
 * sandbox, the sandboxes of the first chunk are configured in their namespaces while the host
 * goes on with the next chunk. A group's batches (same host, namespace and tool) stay in order,
 * and every batch that is not a deletion waits for all deletions.
 */
export function schedule(steps: readonly Step[]): ScheduledBatch[] {
  const batches: Batch[] = [];
  for (const b of toBatches(steps)) {
    if (b.ns === null && toolFor(b.tool).chunks && b.steps.length >= CHUNK_MIN_STEPS) {
      const size = Math.ceil(b.steps.length / CHUNKS);
      for (let i = 0; i < b.steps.length; i += size) batches.push({ ...b, steps: b.steps.slice(i, i + size) });
    } else batches.push(b);
  }
  const batchOf = new Map<string, number>();
  batches.forEach((b, i) => b.steps.forEach((st) => batchOf.set(st.id, i)));
  const deletions = batches.flatMap((b, i) => (b.steps.every((st) => st.isDeletion) ? [i] : []));
  const previous = new Map<string, number>();
  return batches.map((b, i) => {
    const deps = new Set<number>();
    for (const st of b.steps) {
      for (const d of st.after) {
        const j = batchOf.get(d);
        if (j !== undefined && j !== i) deps.add(j);
      }
    }
    const g = groupKey(b);
    const prev = previous.get(g);
    if (prev !== undefined) deps.add(prev);
    previous.set(g, i);
    if (!b.steps.every((st) => st.isDeletion)) for (const j of deletions) if (j !== i) deps.add(j);
    return { ...b, index: i, deps };
  });
}

/** Consecutive commands for the same (host, ns, tool), merged into one batch each, in order. */
export interface CommandBatch<C extends Command = Command> {
  host: string;
  ns: string | null;
  tool: Tool;
  lines: string[][];
  /** The commands of the batch (the lines are their argv). */
  commands: C[];
}

export function commandBatches<C extends Command>(commands: readonly C[]): CommandBatch<C>[] {
  const out: CommandBatch<C>[] = [];
  for (const c of commands) {
    const last = out[out.length - 1];
    if (last && last.host === c.host && last.ns === c.ns && last.tool === c.tool) {
      last.lines.push(c.argv);
      last.commands.push(c);
    } else out.push({ host: c.host, ns: c.ns, tool: c.tool, lines: [c.argv], commands: [c] });
  }
  return out;
}
