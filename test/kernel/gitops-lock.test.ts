// Locks (README "GitOps"): one apply or destroy per topology at a time. While an apply holds
// the lock (it is stopped with SIGSTOP once the lock file names it, so the timing is certain), a
// second apply or a destroy fails at once naming the holder's pid and command (exit 1), and an
// apply with --lock-timeout waits and then succeeds. Four applies started together all succeed,
// one after the other: one makes the changes, the others find nothing to do. A lock left by an
// apply killed with -9, one naming a dead pid, and one naming a pid now used by another process
// are taken over; one held by a live process is not.
// A full state directory is a clean refusal that leaves no lock behind, and the next run, once
// there is room, goes ahead.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lock } from '../../src/executor/lock.js';
import { ROOT, alive, describeInLab, descendants, eventually, netnsNames, removeAll, run, start, startTsnet, tsnet, type Started } from '../support/lab.js';

const NAME = 'klk';
const SANDBOXES = 20;
const NETNS = Array.from({ length: SANDBOXES }, (_, i) => `${NAME}-s${i}`);
const BRIDGE = 'tsn-klk';
const LOCK = `/run/tsnet/${NAME}.lock`;

/** 20 sandboxes on one bridge: an apply holds the lock long enough to be caught holding it (the test polls every 2 ms). */
function topology(): string {
  const lines = ['version: 1', `name: ${NAME}`, 'networks:', '  net: {driver: bridge, bridge: tsn-klk, subnet: 198.18.85.0/24}', 'sandboxes:'];
  for (let i = 0; i < SANDBOXES; i++) lines.push(`  s${i}: {endpoints: [{network: net}]}`);
  return `${lines.join('\n')}\n`;
}

interface LockFile {
  pid: number;
  startTime: string;
  command: string;
  since: string;
}

const readLock = (): LockFile | undefined => {
  try {
    return JSON.parse(readFileSync(LOCK, 'utf8')) as LockFile;
  } catch {
    return undefined;
  }
};

/** Waits until the lock file names `p` (fails if `p` exits first). */
async function lockHeldBy(p: Started): Promise<LockFile> {
  let exited = false;
  void p.done.then(() => (exited = true));
  for (;;) {
    const held = readLock();
    if (held?.pid === p.pid) return held;
    if (exited) throw new Error(`process ${p.pid} ended before it was seen holding the lock: ${(await p.done).all}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeInLab('gitops: one apply or destroy per topology at a time', () => {
  let dir: string;
  let file: string;
  const stopped: Started[] = [];

  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    rmSync(LOCK, { force: true });
    dir = mkdtempSync(join(tmpdir(), 'tsnet-lock-'));
    file = join(dir, 'klk.yaml');
    writeFileSync(file, topology());
  });
  afterAll(async () => {
    for (const p of stopped) if (alive(p.pid)) p.kill('SIGKILL');
    if (file) await tsnet('destroy', '--auto-approve', '-q', '--lock-timeout', '30s', file);
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    for (const f of ['lock', 'journal.json', 'progress']) rmSync(`/run/tsnet/${NAME}.${f}`, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a second apply or a destroy fails at once naming the holder; with --lock-timeout an apply waits, then succeeds', async () => {
    const a = startTsnet('apply', '--auto-approve', '-q', file);
    stopped.push(a);
    const held = await lockHeldBy(a);
    a.kill('SIGSTOP');
    let waiting: Started;
    try {
      expect(held.command).toBe(`tsnet apply ${file}`);
      const holder = `topology "klk" is locked by process ${a.pid} (tsnet apply ${file}, since ${held.since})`;
      const t0 = Date.now();
      const second = await tsnet('apply', '--auto-approve', file);
      expect(second.code, second.all).toBe(1);
      expect(second.stderr).toContain(holder);
      expect(second.stderr).toContain('retry with --lock-timeout');
      expect(Date.now() - t0).toBeLessThan(5000);
      const destroy = await tsnet('destroy', '--auto-approve', file);
      expect(destroy.code, destroy.all).toBe(1);
      expect(destroy.stderr).toContain(holder);

      waiting = startTsnet('apply', '--auto-approve', '-q', '--lock-timeout', '30s', file);
      await sleep(800);
      expect(alive(waiting.pid), 'the apply with --lock-timeout waits while the lock is held').toBe(true);
    } finally {
      a.kill('SIGCONT');
    }
    const first = await a.done;
    expect(first.code, first.all).toBe(0);
    expect(first.stdout).toMatch(/^Apply complete! Resources: 82 added, 0 changed, 0 destroyed/);
    const after = await waiting.done;
    expect(after.code, after.all).toBe(0);
    expect(after.stdout).toBe(`No changes. The kernel matches ${file}.`);
    expect(existsSync(LOCK)).toBe(false);
  });

  it('applies started together end serialised: all succeed, one makes the changes, the kernel ends as the file says', async () => {
    expect((await tsnet('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    const runs = Array.from({ length: 4 }, () => startTsnet('apply', '--auto-approve', '-q', '--lock-timeout', '60s', file));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) {
      expect(r.code, r.all).toBe(0);
      expect(r.stderr).toBe('');
    }
    const outputs = results.map((r) => r.stdout.replace(/\(\d+\.\d+s\)/, '(Ts)')).sort();
    expect(outputs).toEqual([
      'Apply complete! Resources: 82 added, 0 changed, 0 destroyed. (Ts)',
      ...Array(3).fill(`No changes. The kernel matches ${file}.`),
    ]);
    expect((await tsnet('plan', '--detailed-exitcode', file)).code).toBe(0);
    expect(existsSync(LOCK)).toBe(false);
  });

  it('a lock left by an apply killed with -9 is taken over', async () => {
    expect((await tsnet('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    // Its batch files go to a directory of the test's own: a killed run cannot remove them.
    const a = start(['node', join(ROOT, 'bin', 'tsnet.js'), 'apply', '--auto-approve', '-q', file], { env: { NO_COLOR: '1', TSNET_TMPDIR: dir } });
    stopped.push(a);
    await lockHeldBy(a);
    a.kill('SIGSTOP');
    const children = descendants(a.pid);
    a.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    // Its ip processes, if any were running, end by themselves.
    await eventually(() => expect(children.filter(alive)).toEqual([]), 10_000);
    expect(readLock()?.pid).toBe(a.pid);

    const next = await tsnet('apply', '--auto-approve', '-q', file);
    expect(next.code, next.all).toBe(0);
    expect(existsSync(LOCK)).toBe(false);
    expect((await tsnet('plan', '--detailed-exitcode', file)).code).toBe(0);
  });

  it('a lock file naming a dead pid, or a pid another process now has, is taken over; a live holder is not', async () => {
    const gone = start(['true']);
    const deadPid = gone.pid;
    await gone.done;
    const since = new Date().toISOString();
    writeFileSync(LOCK, JSON.stringify({ pid: deadPid, startTime: '1', command: 'tsnet apply (killed long ago)', since }));
    const dead = await tsnet('apply', '--auto-approve', '-q', file);
    expect(dead.code, dead.all).toBe(0);
    expect(existsSync(LOCK)).toBe(false);

    // This process is alive, but started at another time than the lock says: a reused pid.
    writeFileSync(LOCK, JSON.stringify({ pid: process.pid, startTime: 'another', command: 'tsnet apply (pid reused since)', since }));
    const reused = await tsnet('apply', '--auto-approve', '-q', file);
    expect(reused.code, reused.all).toBe(0);
    expect(existsSync(LOCK)).toBe(false);

    // A lock is held through an flock, not by what the file says: this process takes it for real.
    const held = await Lock.acquire(NAME, 'a kernel test holding the lock');
    try {
      const live = await tsnet('apply', '--auto-approve', '-q', file);
      expect(live.code, live.all).toBe(1);
      expect(live.stderr).toContain(`topology "klk" is locked by process ${process.pid} (a kernel test holding the lock, since ${readLock()!.since})`);
      expect(readLock()?.pid).toBe(process.pid);
    } finally {
      held.release();
    }
    expect(existsSync(LOCK)).toBe(false);
  });

  it('a full state directory: a clean refusal that leaves no lock behind; with room again the next run goes ahead', async () => {
    expect((await tsnet('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    const state = join(dir, 'state');
    mkdirSync(state);
    // A tiny tmpfs of its own (the lab has a private mount namespace), filled up.
    const mounted = await run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tsnet-full', state]);
    expect(mounted.code, mounted.all).toBe(0);
    try {
      const fill = await run(['dd', 'if=/dev/zero', `of=${join(state, 'fill')}`, 'bs=64k']);
      expect(fill.all).toMatch(/No space left on device/);
      const cli = (...args: string[]) => run(['node', join(ROOT, 'bin', 'tsnet.js'), ...args], { env: { NO_COLOR: '1', TSNET_STATE_DIR: state } });
      const full = await cli('apply', '--auto-approve', '-q', file);
      expect(full.code, full.all).toBe(1);
      expect(full.stderr).toContain('tsnet: cannot take the lock of topology "klk": ENOSPC: no space left on device');
      expect(full.all).not.toMatch(/internal error|\n\s+at /);
      expect(readdirSync(state), 'no lock file is left').toEqual(['fill']);
      expect((await netnsNames()).filter((n) => n.startsWith(`${NAME}-`))).toEqual([]);

      rmSync(join(state, 'fill'));
      const next = await cli('apply', '--auto-approve', '-q', file);
      expect(next.code, next.all).toBe(0);
      expect(existsSync(join(state, `${NAME}.lock`))).toBe(false);
      expect((await cli('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    } finally {
      await run(['umount', state]);
    }
  });
});
