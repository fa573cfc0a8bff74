// One apply or destroy per topology at a time, on the machine tsnet runs on (which covers every
// host the topology reaches from it). The lock is a file created with O_EXCL holding the
// holder's pid and process start time; a lock whose process is gone (or whose pid now belongs
// to another process) is stale and is removed under a second, short-lived lock, so two takers
// cannot both win.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from './journal.js';
import { isAlive, processStartTime } from './proc.js';

export { isAlive, processStartTime };

export interface LockInfo {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a live holder from a reused pid. */
  startTime: string;
  command: string;
  since: string;
}

export class LockError extends Error {
  constructor(
    message: string,
    readonly holder?: LockInfo,
  ) {
    super(message);
    this.name = 'LockError';
  }
}

export const lockPath = (topology: string, dir = stateDir()): string => join(dir, `${topology}.lock`);

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export class Lock {
  private constructor(readonly path: string) {}

  /** Takes the lock, waiting up to `timeoutMs` for a live holder; throws LockError naming it. */
  static async acquire(topology: string, command: string, timeoutMs = 0, dir = stateDir()): Promise<Lock> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = lockPath(topology, dir);
    const me: LockInfo = { pid: process.pid, startTime: processStartTime(process.pid) ?? '', command, since: new Date().toISOString() };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, JSON.stringify(me));
        closeSync(fd);
        return new Lock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readLock(path);
      // A lock whose process is gone is stale; so is an unreadable one older than a second (its
      // writer died between creating and writing it).
      if (holder ? !isAlive(holder) : ageMs(path) > 1000) {
        if (takeOver(path, holder)) continue;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (Date.now() >= deadline) {
        const who = holder ? `process ${holder.pid} (${holder.command}, since ${holder.since})` : 'a process that is starting';
        throw new LockError(
          `topology "${topology}" is locked by ${who}; wait for it to finish${timeoutMs ? '' : ', or retry with --lock-timeout 60s to wait'}`,
          holder,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  release(): void {
    const holder = readLock(this.path);
    if (holder?.pid === process.pid) rmSync(this.path, { force: true });
  }
}

/**
 * Removes a stale lock under a short-lived second lock, after checking again that it is still
 * the same stale one: two processes that both saw it stale cannot remove a fresh lock.
 */
function takeOver(path: string, judged: LockInfo | undefined): boolean {
  const guard = `${path}.takeover`;
  try {
    closeSync(openSync(guard, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (ageMs(guard) > 5000) rmSync(guard, { force: true }); // its taker died
    return false;
  }
  try {
    const now = readLock(path);
    const same = judged ? now?.pid === judged.pid && now?.startTime === judged.startTime : now === undefined;
    if (same) rmSync(path, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** "60s", "2m", "500ms", "0" -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration like 30s, 2m or 500ms`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}
