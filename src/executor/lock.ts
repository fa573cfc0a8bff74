// One apply or destroy per topology at a time, on the machine tsnet runs on (which covers every
// host the topology reaches from it).
//
// The lock is an flock(2) on <state dir>/<topology>.lock, held through a descriptor this process
// keeps open for the whole run. Why not a file created with O_EXCL and judged stale by the pid
// it names (as before): a file created but not yet written cannot be told from one whose writer
// died, a pid means nothing across PID namespaces (a container sharing /run/tsnet), and taking
// over a "stale" file always leaves a window in which a fresh lock is removed. The kernel drops
// an flock when its holder dies (kill -9 included), so no lock is ever stale and nothing is
// taken over by guessing. Node has no flock(): util-linux's `flock -n FD` (util-linux is needed
// anyway, for nsenter) takes it on the descriptor this process hands down. An flock belongs to
// the open file description, which the child shares, so it stays with this process's descriptor
// when the child exits, and goes when that descriptor is closed (by release() or by the exit).
//
// The file's content (pid, command, since) only names the holder in messages. release() removes
// the file while still holding it, and a taker checks after locking that the file it locked is
// still the one at the path (else it tries again): a removed file's lock never counts.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
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

/** flock's exit code when the lock is held by someone else (-E). */
const CONFLICT = 75;

/** True when this process now holds an exclusive flock on `fd`; false when another holds it. */
function tryFlock(fd: number): boolean {
  const res = spawnSync('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(CONFLICT), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (res.status === 0) return true;
  if (res.status === CONFLICT) return false;
  const why = res.error ? (res.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'flock (util-linux) is not installed' : res.error.message : String(res.stderr).trim() || `flock exited with ${res.status}`;
  throw new Error(why);
}

/** True when `fd` is the file now at `path` (not one removed, or replaced, since it was opened). */
function isCurrent(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

export class Lock {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Takes the lock, waiting up to `timeoutMs` for a holder; throws LockError naming it. */
  static async acquire(topology: string, command: string, timeoutMs = 0, dir = stateDir()): Promise<Lock> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = lockPath(topology, dir);
    const me: LockInfo = { pid: process.pid, startTime: processStartTime(process.pid) ?? '', command, since: new Date().toISOString() };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      let got = false;
      try {
        got = tryFlock(fd) && isCurrent(fd, path);
      } finally {
        if (!got) closeSync(fd);
      }
      if (got) {
        const lock = new Lock(path, fd);
        try {
          // Who holds it, for the messages of others; a full directory is a refusal, not a
          // lock nobody can name (the file goes with release()).
          const text = JSON.stringify(me);
          ftruncateSync(fd, 0);
          if (writeSync(fd, text, 0) !== Buffer.byteLength(text)) throw new Error(`short write to ${path}`);
        } catch (err) {
          lock.release();
          throw err;
        }
        return lock;
      }
      // The file names its holder only once the holder has written it: until then it may still
      // name the last holder, gone since. A holder in another PID namespace cannot be seen either.
      const read = readLock(path);
      const holder = read && isAlive(read) ? read : undefined;
      if (Date.now() >= deadline) {
        const who = holder ? `process ${holder.pid} (${holder.command}, since ${holder.since})` : 'a process that is starting (or runs in another PID namespace)';
        throw new LockError(
          `topology "${topology}" is locked by ${who}; wait for it to finish${timeoutMs ? '' : ', or retry with --lock-timeout 60s to wait'}`,
          holder,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Lets go: removes the file while still holding it, then closes it. Safe to call twice. */
  release(): void {
    if (this.fd === undefined) return;
    if (isCurrent(this.fd, this.path)) rmSync(this.path, { force: true });
    closeSync(this.fd);
    this.fd = undefined;
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
