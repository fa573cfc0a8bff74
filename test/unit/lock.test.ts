// The topology lock (src/executor/lock.ts) between processes, in a directory of the test's own
// (no kernel, no /run/tsnet). Several processes race for a stale lock (its holder's pid gone, or
// an empty file older than a second whose writer died): exactly one wins, and the others fail
// naming it. With a timeout, all of them get the lock in turn and never two at once. A live
// holder is named in the error; a pid that now belongs to another process is not a holder; a
// takeover guard left by a dead taker does not block for ever.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lock, LockError, lockPath, parseDuration } from '../../src/executor/lock.js';
import { processStartTime } from '../../src/executor/proc.js';
import { ROOT, ensureBuilt } from '../support/build.js';

const LOCK_JS = pathToFileURL(join(ROOT, 'dist', 'executor', 'lock.js')).href;

/** One racer: waits for the common start time, tries to take the lock, holds it, reports. */
const RACER = `
const [dir, at, timeout, hold, name] = process.argv.slice(1);
const { Lock, LockError } = await import(${JSON.stringify(LOCK_JS)});
await new Promise((r) => setTimeout(r, Math.max(0, Number(at) - Date.now() - 20)));
while (Date.now() < Number(at)) {}
try {
  const lock = await Lock.acquire('race', name, Number(timeout), dir);
  const got = Date.now();
  await new Promise((r) => setTimeout(r, Number(hold)));
  const left = Date.now();
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

function racer(dir: string, at: number, timeoutMs: number, holdMs: number, name: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', RACER, dir, String(at), String(timeoutMs), String(holdMs), name], (err, stdout, stderr) => {
      if (err) reject(new Error(`racer ${name} failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Outcome);
    });
  });
}

/** `n` racers starting at the same moment. */
const race = (dir: string, n: number, timeoutMs: number, holdMs: number) => {
  const at = Date.now() + 700;
  return Promise.all(Array.from({ length: n }, (_, i) => racer(dir, at, timeoutMs, holdMs, `racer ${i}`)));
};

/** A pid that no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile('true', () => resolve(child.pid!));
  });
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

  /** Exactly one winner; every other racer failed with a LockError naming it (or a holder still writing its file). */
  function oneWinner(outcomes: Outcome[]): void {
    const winners = outcomes.filter((o) => o.won);
    expect(winners, JSON.stringify(outcomes)).toHaveLength(1);
    for (const o of outcomes.filter((x) => !x.won)) {
      expect(o.lockError, o.message).toBe(true);
      expect(o.message).toMatch(new RegExp(`topology "race" is locked by (process ${winners[0]!.pid} \\(racer \\d\\b|a process that is starting)`));
    }
    expect(readdirSync(dir), 'the lock and the takeover guard are gone').toEqual([]);
  }

  it('racing for a lock whose holder is gone: exactly one process wins, every time', async () => {
    for (let round = 0; round < 3; round++) {
      await staleLock();
      oneWinner(await race(dir, 6, 0, 400));
    }
  }, 30_000);

  it('racing for an empty lock file older than a second (its writer died): exactly one wins', async () => {
    const path = lockPath('race', dir);
    writeFileSync(path, '');
    const old = (Date.now() - 5000) / 1000;
    utimesSync(path, old, old);
    oneWinner(await race(dir, 6, 0, 400));
  }, 30_000);

  it('with a timeout, every racer gets the lock in turn and never two at once', async () => {
    await staleLock();
    const outcomes = await race(dir, 5, 20_000, 150);
    expect(outcomes.every((o) => o.won), JSON.stringify(outcomes)).toBe(true);
    const held = outcomes.map((o) => [o.got!, o.left!] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < held.length; i++) expect(held[i]![0], `holder ${i} took the lock before holder ${i - 1} let go`).toBeGreaterThanOrEqual(held[i - 1]![1]);
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
    const path = lockPath('held', dir);
    const since = '2026-01-01T00:00:00.000Z';
    writeFileSync(path, JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid), command: 'tsnet apply x.yaml', since }));
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
    rmSync(path);
  });

  it('takes over a lock whose pid now belongs to another process (another start time)', async () => {
    writeFileSync(lockPath('reused', dir), JSON.stringify({ pid: process.pid, startTime: 'another', command: 'old', since: '' }));
    const lock = await Lock.acquire('reused', 'new', 0, dir);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('is not blocked for ever by the takeover guard of a taker that died', async () => {
    const path = lockPath('guarded', dir);
    writeFileSync(path, JSON.stringify({ pid: await deadPid(), startTime: '1', command: 'old', since: '' }));
    writeFileSync(`${path}.takeover`, '');
    const old = (Date.now() - 10_000) / 1000;
    utimesSync(`${path}.takeover`, old, old);
    const lock = await Lock.acquire('guarded', 'new', 0, dir);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('release leaves a lock that another process holds', async () => {
    const lock = await Lock.acquire('mine', 'me', 0, dir);
    const other = JSON.stringify({ pid: process.pid + 1, startTime: 'x', command: 'other', since: '' });
    writeFileSync(lock.path, other);
    lock.release();
    expect(readdirSync(dir)).toEqual(['mine.lock']);
    rmSync(lock.path);
  });

  it('reads durations', () => {
    expect(['0', '500ms', '30s', '2m', '1.5s', '1h', '45'].map(parseDuration)).toEqual([0, 500, 30_000, 120_000, 1500, 3_600_000, 45_000]);
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration like 30s, 2m or 500ms');
  });
});
