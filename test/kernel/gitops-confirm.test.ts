// Commit-confirm (README "GitOps"): `apply --confirm-within 3s` applies and starts a detached
// timer. Not confirmed, the change is rolled back when the time is up, to a kernel dump equal to
// the one before; meanwhile other applies and destroys of the topology are refused. Confirmed
// with `tsnet confirm NAME` in time, it stays after the deadline. `confirm` with nothing
// pending exits 1. With --json the last line is confirm_pending with the deadline.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FORMAT_1X, jsonLines } from '../support/json.js';
import { FIXTURES, alive, describeInLab, eventually, netnsNames, removeAll, tsnet } from '../support/lab.js';

const FILE = join(FIXTURES, 'gitops-confirm.yaml');
const NAME = 'kcf';
const NETNS = ['kcf-a', 'kcf-b'];
const BRIDGE = 'tsn-cf';
const STATE = (suffix: string) => `/run/tsnet/${NAME}.${suffix}`;

interface Pending {
  deadline: string;
  timer?: { pid: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeInLab('gitops: commit-confirm', () => {
  let empty: KernelDump;
  /** Every timer process started: none may outlive the file. */
  const timers: number[] = [];

  /** The pending change's record; remembers its timer for the cleanup. */
  const pending = (): Pending => {
    const p = JSON.parse(readFileSync(STATE('confirm.json'), 'utf8')) as Pending;
    if (p.timer) timers.push(p.timer.pid);
    return p;
  };

  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    for (const f of ['confirm.json', 'confirm.log']) rmSync(STATE(f), { force: true });
    empty = await quietDump();
  });
  afterAll(async () => {
    for (const pid of timers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone, as it should be */
      }
    }
    for (const f of ['confirm.json', 'confirmed.json', 'rolling-back.json', 'confirm.log', 'lock']) rmSync(STATE(f), { force: true });
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    for (const f of ['journal.json', 'progress']) rmSync(STATE(f), { force: true });
  });

  it('confirm with nothing pending exits 1', async () => {
    const res = await tsnet('confirm', NAME);
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain('no change of "kcf" waits for confirmation');
  });

  it('not confirmed in time: rolled back when the time is up, the kernel equal to before; until then other runs are refused', async () => {
    const res = await tsnet('apply', '--auto-approve', '--json', '--confirm-within', '3s', FILE);
    expect(res.code, res.all).toBe(0);
    const lines = jsonLines(res.stdout);
    for (const l of lines) expect(l.format_version, JSON.stringify(l)).toMatch(FORMAT_1X);
    expect(lines.at(-2)).toMatchObject({ type: 'result', ok: true });
    const p = pending();
    expect(lines.at(-1)).toEqual({ format_version: expect.any(String), type: 'confirm_pending', topology: NAME, deadline: p.deadline });
    expect(Date.parse(p.deadline) - Date.now()).toBeLessThanOrEqual(3000);
    expect(alive(p.timer!.pid)).toBe(true);
    expect(await netnsNames()).toEqual(expect.arrayContaining(NETNS));

    const refusal = `a change of "kcf" waits for confirmation until ${p.deadline}: run "tsnet confirm kcf" to keep it`;
    for (const cmd of ['apply', 'destroy']) {
      const other = await tsnet(cmd, '--auto-approve', FILE);
      expect(other.code, other.all).toBe(1);
      expect(other.stderr).toContain(refusal);
    }

    await sleep(Math.max(0, Date.parse(p.deadline) - Date.now()));
    expect(await settledDump(empty, 8000)).toEqual(empty);
    await eventually(() => expect(alive(p.timer!.pid)).toBe(false), 5000);
    expect(existsSync(STATE('confirm.json'))).toBe(false);
    expect(readFileSync(STATE('confirm.log'), 'utf8')).toMatch(new RegExp(`^not confirmed by ${p.deadline}: rolled back at `));
    const late = await tsnet('confirm', NAME);
    expect(late.code, late.all).toBe(1);
    expect(late.stderr).toContain(`(last: not confirmed by ${p.deadline}: rolled back at `);
  });

  it('confirmed in time: the change stays after the deadline', async () => {
    const res = await tsnet('apply', '--auto-approve', '--confirm-within', '3s', FILE);
    expect(res.code, res.all).toBe(0);
    const p = pending();
    expect(res.stdout).toContain(`This change rolls back at ${p.deadline} unless you run: tsnet confirm kcf`);

    const confirm = await tsnet('confirm', NAME);
    expect(confirm.code, confirm.all).toBe(0);
    expect(confirm.stdout).toBe('Confirmed: the change to "kcf" stays.');
    await eventually(() => expect(alive(p.timer!.pid)).toBe(false), 5000);
    const kept = await quietDump();
    expect(kept.netns.map((n) => (n as { name: string }).name).sort()).toEqual(NETNS);

    await sleep(Math.max(0, Date.parse(p.deadline) - Date.now()) + 1000);
    expect(await quietDump()).toEqual(kept);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
    expect(readFileSync(STATE('confirm.log'), 'utf8')).toMatch(/^confirmed at /);
    expect((await tsnet('confirm', NAME)).code).toBe(1);
    // Nothing pends any more: applies are allowed again.
    const again = await tsnet('apply', '--auto-approve', '-q', FILE);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toBe(`No changes. The kernel matches ${FILE}.`);
  });
});
