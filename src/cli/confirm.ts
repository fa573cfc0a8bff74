// Commit-confirm (nmstate's checkpoint, without NetworkManager): `apply --confirm-within 60s`
// applies, then a detached timer process rolls the change back unless `tsnet confirm NAME`
// runs in time. So a change that cuts off the operator's own access undoes itself.
//
// The pending change lives in <state dir>/<name>.confirm.json. Whoever renames it first wins:
// `confirm` renames it to .confirmed.json, the timer to .rolling-back.json.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Host } from '../model/types.js';
import type { Command, ObjectRef, Step } from '../planner/types.js';
import { rollback } from '../executor/execute.js';
import { isAlive, Lock, processStartTime, type LockInfo } from '../executor/lock.js';
import { stateDir } from '../executor/journal.js';
import { runnerFor, type Runner } from '../state/runner.js';
import { readState } from '../state/read.js';
import { parseMark } from '../state/ownership.js';
import type { LiveState } from '../state/types.js';
import { ExitError } from './errors.js';

export interface PendingConfirm {
  topology: string;
  file: string;
  deadline: string;
  hosts: Host[];
  /** The completed steps of the apply, in order; their undo is the rollback. */
  steps: Step[];
  timer?: LockInfo;
}

const paths = (topology: string, dir = stateDir()) => ({
  pending: join(dir, `${topology}.confirm.json`),
  confirmed: join(dir, `${topology}.confirmed.json`),
  rolling: join(dir, `${topology}.rolling-back.json`),
  log: join(dir, `${topology}.confirm.log`),
});

export function readPending(topology: string): PendingConfirm | undefined {
  const { pending } = paths(topology);
  if (!existsSync(pending)) return undefined;
  try {
    return JSON.parse(readFileSync(pending, 'utf8')) as PendingConfirm;
  } catch {
    return undefined;
  }
}

/** Refuses a new apply or destroy while a change of the topology waits for confirmation. */
export function refuseWhilePending(topology: string): void {
  const p = readPending(topology);
  if (!p) return;
  if (p.timer && !isAlive(p.timer)) return; // its timer died: nothing will roll it back
  throw new ExitError(`a change of "${topology}" waits for confirmation until ${p.deadline}: run "tsnet confirm ${topology}" to keep it, or wait for it to roll back`);
}

export function startConfirmTimer(topology: string, file: string, hosts: Host[], steps: Step[], withinMs: number): string {
  const { pending } = paths(topology);
  const deadline = new Date(Date.now() + withinMs).toISOString();
  const record: PendingConfirm = { topology, file, deadline, hosts, steps };
  writeFileSync(pending, JSON.stringify(record));
  // The script this process runs (bin/tsnet.js), so the timer is the same tsnet.
  const bin = process.argv[1] ?? fileURLToPath(new URL('../../bin/tsnet.js', import.meta.url));
  const child = spawn(process.execPath, [bin, '_confirm-timer', topology], { detached: true, stdio: 'ignore', env: process.env });
  child.unref();
  const pid = child.pid!;
  record.timer = { pid, startTime: processStartTime(pid) ?? '', command: 'tsnet confirm timer', since: new Date().toISOString() };
  writeFileSync(`${pending}.tmp`, JSON.stringify(record));
  renameSync(`${pending}.tmp`, pending);
  return deadline;
}

export async function confirmCommand(topology: string): Promise<void> {
  const p = paths(topology);
  const pending = readPending(topology);
  try {
    renameSync(p.pending, p.confirmed);
  } catch {
    const last = existsSync(p.log) ? readFileSync(p.log, 'utf8').trim() : '';
    throw new ExitError(`no change of "${topology}" waits for confirmation${last ? ` (last: ${last})` : ''}`);
  }
  if (pending?.timer && isAlive(pending.timer)) {
    try {
      process.kill(pending.timer.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  rmSync(p.confirmed, { force: true });
  writeFileSync(p.log, `confirmed at ${new Date().toISOString()}\n`);
  process.stdout.write(`Confirmed: the change to "${topology}" stays.\n`);
}

/**
 * The steps with their undo deletions (`link del`, `netns del`) kept only where the object is
 * still there and still this topology's: what took a name since the apply is left alone.
 */
export function ownDeletionsOnly(steps: readonly Step[], live: LiveState, topology: string): Step[] {
  const ours = (o: ObjectRef): boolean => {
    const state = live.hosts.get(o.host);
    if (!state) return true; // not read: as before (the caller says so)
    if (o.kind === 'netns') return parseMark(state.namespaces.get(o.name)?.links.find((l) => l.ifname === 'lo')?.alias)?.topology === topology;
    if (o.kind === 'link') {
      const where = o.ns === null ? state.root : state.namespaces.get(o.ns);
      return parseMark(where?.links.find((l) => l.ifname === o.name)?.alias)?.topology === topology;
    }
    return true;
  };
  // What a command deletes is named first in its `deletes` (what goes along follows).
  const deletesOurs = (c: Command) => !c.deletes?.length || ours(c.deletes[0]!);
  // A namespace that is no longer ours gets no command at all: neither its deletion nor what
  // would have run inside it.
  const foreignNs = new Set<string>();
  for (const s of steps) for (const c of s.undo) for (const o of c.deletes ?? []) if (o.kind === 'netns' && !ours(o)) foreignNs.add(`${o.host}\u0000${o.name}`);
  return steps.map((s) => ({
    ...s,
    undo: s.undo.filter((c) => !(c.ns !== null && foreignNs.has(`${c.host}\u0000${c.ns}`)) && deletesOurs(c)),
  }));
}

/** The detached timer: waits for the deadline, then rolls back unless confirmed. */
export async function confirmTimer(topology: string): Promise<void> {
  const p = paths(topology);
  const pending = readPending(topology);
  if (!pending) return;
  const wait = Math.max(0, Date.parse(pending.deadline) - Date.now());
  await new Promise((r) => setTimeout(r, wait));
  try {
    renameSync(p.pending, p.rolling);
  } catch {
    return; // confirmed meanwhile
  }
  const lock = await Lock.acquire(topology, 'tsnet confirm timer (rolling back)', 120_000);
  try {
    const errors = await rollbackPending(pending);
    writeFileSync(
      p.log,
      errors.length
        ? `not confirmed by ${pending.deadline}: rolled back with errors: ${errors.join('; ')}\n`
        : `not confirmed by ${pending.deadline}: rolled back at ${new Date().toISOString()}\n`,
    );
  } finally {
    rmSync(p.rolling, { force: true });
    lock.release();
  }
}

/**
 * The pending change's rollback, now rather than at the deadline (`apply --check
 * --confirm-within` when a check fails). The caller holds the topology's lock. Returns the
 * rollback's errors; undefined when nothing was pending any more (confirmed meanwhile).
 */
export async function rollBackNow(topology: string, why: string): Promise<string[] | undefined> {
  const p = paths(topology);
  const pending = readPending(topology);
  if (!pending) return undefined;
  try {
    renameSync(p.pending, p.rolling); // the timer, finding nothing to rename, ends without acting
  } catch {
    return undefined;
  }
  try {
    if (pending.timer && isAlive(pending.timer)) process.kill(pending.timer.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  try {
    const errors = await rollbackPending(pending);
    writeFileSync(
      p.log,
      errors.length ? `${why}: rolled back at once with errors: ${errors.join('; ')}\n` : `${why}: rolled back at once at ${new Date().toISOString()}\n`,
    );
    return errors;
  } finally {
    rmSync(p.rolling, { force: true });
  }
}

/** Undoes a pending change's steps, deleting only what still carries the topology's mark. */
async function rollbackPending(pending: PendingConfirm): Promise<string[]> {
  const { topology } = pending;
  if (pending.hosts.some((h) => h.via.kind === 'ssh')) await import('../state/ssh.js');
  const runners = new Map<string, Runner>(pending.hosts.map((h) => [h.name, runnerFor(h)]));
  try {
    // The kernel may have changed in the window: never delete what no longer carries our mark.
    // Each host is read on its own; one that cannot be read is rolled back unchecked.
    const live: LiveState = { hosts: new Map() };
    const unread: string[] = [];
    for (const runner of runners.values()) {
      try {
        const state = (await readState([runner])).hosts.get(runner.host);
        if (state) live.hosts.set(runner.host, state);
      } catch (err) {
        unread.push(`host ${runner.host} could not be read (${(err as Error).message}): its undo ran unchecked`);
      }
    }
    return [...unread, ...(await rollback(ownDeletionsOnly(pending.steps, live, topology), runners, 2))];
  } finally {
    await Promise.all([...runners.values()].map((r) => r.close()));
  }
}
