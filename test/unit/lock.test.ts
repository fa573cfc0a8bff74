// The topology lock (src/executor/lock.ts) between processes, in a directory of the test's own
// (no kernel, no /run/tsnet). What matters is mutual exclusion: every racer records the window
// in which it held the lock, and no two windows overlap, however the racers' starts fall. A
// lock file left by a process that is gone (killed with -9, a dead pid, a pid reused since, an
// empty file) is taken at once; a live holder is never taken over, even when its file is empty
// (it could not write its details) and old. A live holder is named in the error.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lock, LockError, lockPath, parseDuration } from '../../src/executor/lock.js';
import { processStartTime } from '../../src/executor/proc.js';
import { ROOT, ensureBuilt } from '../support/build.js';

const LOCK_JS = pathToFileURL(join(ROOT, 'dist', 'executor', 'lock.js')).href;

/**
 * One racer: tries to take the lock, holds it for `hold` ms, reports the window it held it in
 * (taken after acquire() returned, left before release(): inside the real window).
 */
const RACER = `
const [dir, timeout, hold, name] = process.argv.slice(1);
const { Lock, LockError } = await import(${JSON.stringify(LOCK_JS)});
try {
  const lock = await Lock.acquire('race', name, Number(timeout), dir);
  const got = performance.timeOrigin + performance.now();
  await new Promise((r) => setTimeout(r, Number(hold)));
  const left = performance.timeOrigin + performance.now();
  lock.release();
  console.log(JSON.stringify({ won: true, pid: process.pid, got, left }));
} catch (e) {
  console.log(JSON.stringify({ won: false, pid: process.pid, lockError: e instanceof LockError, message: String(e?.message ?? e) }));
}
`;

interface Outcome {
  won: boolean;
  pid: number;
  got?: number;
  left?: number;
  lockError?: boolean;
  message?: string;
}

function racer(dir: string, timeoutMs: number, holdMs: number, name: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', RACER, dir, String(timeoutMs), String(holdMs), name], (err, stdout, stderr) => {
      if (err) reject(new Error(`racer ${name} failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Outcome);
    });
  });
}

/** `n` racers started together (when each really tries is up to the machine). */
const race = (dir: string, n: number, timeoutMs: number, holdMs: number) => Promise.all(Array.from({ length: n }, (_, i) => racer(dir, timeoutMs, holdMs, `racer ${i}`)));

/** The winners' holding windows, in order; fails when two overlap. */
function exclusive(outcomes: Outcome[]): void {
  const held = outcomes
    .filter((o) => o.won)
    .map((o) => [o.got!, o.left!, o.pid] as const)
    .sort((a, b) => a[0] - b[0]);
  expect(held.length, JSON.stringify(outcomes)).toBeGreaterThan(0);
  for (let i = 1; i < held.length; i++) {
    expect(held[i]![0], `process ${held[i]![2]} took the lock while process ${held[i - 1]![2]} held it: ${JSON.stringify(outcomes)}`).toBeGreaterThanOrEqual(held[i - 1]![1]);
  }
}

/** A pid that no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile('true', () => resolve(child.pid!));
  });
}

/**
 * `flock(1)` holding `path` (created empty if missing) until killed: a live holder that wrote
 * nothing. In a process group of its own, so that killing it kills its command too.
 */
async function holdWithFlock(path: string): Promise<{ kill: () => Promise<void> }> {
  const child = spawn('flock', ['--exclusive', path, 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('error', reject);
  });
  return {
    kill: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        process.kill(-child.pid!, 'SIGKILL');
      }),
  };
}

describe('Lock between processes', () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tsnet-lock-unit-'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const staleLock = async () =>
    writeFileSync(lockPath('race', dir), JSON.stringify({ pid: await deadPid(), startTime: '1', command: 'tsnet apply (killed)', since: new Date().toISOString() }));

  /** No two holders at once; every racer that did not get it failed with a LockError naming a holder. */
  function oneAtATime(outcomes: Outcome[]): void {
    exclusive(outcomes);
    const pids = outcomes.filter((o) => o.won).map((o) => o.pid);
    for (const o of outcomes.filter((x) => !x.won)) {
      expect(o.lockError, o.message).toBe(true);
      const m = /topology "race" is locked by (?:process (\d+) \(racer \d\b|a process that is starting \(or runs in another PID namespace\))/.exec(o.message ?? '');
      expect(m, o.message).not.toBeNull();
      if (m![1]) expect(pids, `${o.message} names a process that never held the lock`).toContain(Number(m![1]));
    }
    expect(readdirSync(dir), 'the lock is gone after the last release').toEqual([]);
  }

  it('racing for a lock whose holder is gone: never two holders at once', async () => {
    for (let round = 0; round < 4; round++) {
      await staleLock();
      oneAtATime(await race(dir, 6, 0, 300));
    }
  }, 60_000);

  it('racing for an empty lock file (its writer died before writing): never two holders at once', async () => {
    for (let round = 0; round < 2; round++) {
      const path = lockPath('race', dir);
      writeFileSync(path, '');
      const old = (Date.now() - 5000) / 1000;
      utimesSync(path, old, old);
      oneAtATime(await race(dir, 6, 0, 300));
    }
  }, 60_000);

  it('with a timeout, every racer gets the lock in turn and never two at once', async () => {
    await staleLock();
    const outcomes = await race(dir, 5, 30_000, 150);
    expect(outcomes.every((o) => o.won), JSON.stringify(outcomes)).toBe(true);
    exclusive(outcomes);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('a live holder whose lock file is empty and old (it could not write its details) is never taken over', async () => {
    const path = lockPath('quiet', dir);
    const holder = await holdWithFlock(path);
    try {
      const old = (Date.now() - 60_000) / 1000;
      utimesSync(path, old, old);
      const err = await Lock.acquire('quiet', 'tsnet apply y.yaml', 1500, dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockError);
      expect((err as LockError).message).toBe('topology "quiet" is locked by a process that is starting (or runs in another PID namespace); wait for it to finish');
      expect(readFileSync(path, 'utf8')).toBe('');
    } finally {
      await holder.kill();
    }
    // Its holder gone, the lock is free at once.
    const lock = await Lock.acquire('quiet', 'tsnet apply y.yaml', 0, dir);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);

  it('a lock held by a process killed with -9 is free at once, and the next holder names itself', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
const { Lock } = await import(${JSON.stringify(LOCK_JS)});
await Lock.acquire('killed', 'tsnet apply (to be killed)', 0, ${JSON.stringify(dir)});
console.log('held');
setInterval(() => {}, 1000);
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const busy = await Lock.acquire('killed', 'me', 0, dir).catch((e: unknown) => e);
    expect((busy as LockError).message).toMatch(new RegExp(`^topology "killed" is locked by process ${child.pid} \\(tsnet apply \\(to be killed\\), since `));
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    expect(JSON.parse(readFileSync(lockPath('killed', dir), 'utf8'))).toMatchObject({ pid: child.pid });
    const lock = await Lock.acquire('killed', 'me', 0, dir);
    expect(JSON.parse(readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid, command: 'me' });
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);
});

describe('Lock in one process', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-lock-unit-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a live holder, its command and since when; suggests --lock-timeout; leaves its lock alone', async () => {
    const held = await Lock.acquire('held', 'tsnet apply x.yaml', 0, dir);
    const { since } = JSON.parse(readFileSync(held.path, 'utf8')) as { since: string };
    const err = await Lock.acquire('held', 'tsnet apply y.yaml', 0, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect((err as LockError).message).toBe(
      `topology "held" is locked by process ${process.pid} (tsnet apply x.yaml, since ${since}); wait for it to finish, or retry with --lock-timeout 60s to wait`,
    );
    // With a timeout: waits that long, then says the same without the hint.
    const t0 = Date.now();
    const late = await Lock.acquire('held', 'tsnet apply y.yaml', 300, dir).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect((late as LockError).message).toMatch(/; wait for it to finish$/);
    expect(JSON.parse(readFileSync(held.path, 'utf8'))).toMatchObject({ command: 'tsnet apply x.yaml' });
    held.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes a lock file naming a dead pid, or a pid that now belongs to another process (another start time)', async () => {
    writeFileSync(lockPath('dead', dir), JSON.stringify({ pid: await deadPid(), startTime: '1', command: 'old', since: '' }));
    (await Lock.acquire('dead', 'new', 0, dir)).release();
    writeFileSync(lockPath('reused', dir), JSON.stringify({ pid: process.pid, startTime: 'another', command: 'old', since: '' }));
    (await Lock.acquire('reused', 'new', 0, dir)).release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('release leaves a lock file that is not its own (removed and taken by another since), and can be called twice', async () => {
    const lock = await Lock.acquire('mine', 'me', 0, dir);
    rmSync(lock.path);
    const other = await Lock.acquire('mine', 'other', 0, dir);
    lock.release();
    lock.release();
    expect(readdirSync(dir)).toEqual(['mine.lock']);
    expect(JSON.parse(readFileSync(other.path, 'utf8'))).toMatchObject({ command: 'other' });
    other.release();
    expect(existsSync(other.path)).toBe(false);
  });

  it('checks that the file it locked is still the one at the path: a removed file locked meanwhile does not count', async () => {
    const first = await Lock.acquire('swap', 'first', 0, dir);
    const second = Lock.acquire('swap', 'second', 5000, dir);
    await new Promise((r) => setTimeout(r, 150));
    first.release(); // removes the file the waiter had opened, and unlocks it
    const got = await second;
    expect(JSON.parse(readFileSync(lockPath('swap', dir), 'utf8'))).toMatchObject({ command: 'second' });
    const third = await Lock.acquire('swap', 'third', 0, dir).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(LockError);
    got.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reads durations', () => {
    expect(['0', '500ms', '30s', '2m', '1.5s', '1h', '45'].map(parseDuration)).toEqual([0, 500, 30_000, 120_000, 1500, 3_600_000, 45_000]);
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration like 30s, 2m or 500ms');
  });
});
