// kill -9 at many points of an apply AND of its rollback (README "Safety"): the apply changes
// kill-a.yaml (sandboxes a, b) into kill-b.yaml (a, c: b's namespace and veth deleted, c's made)
// and its last line fails (test/support/faulty-runner.ts), so its rollback undoes every step,
// making b's namespace and veth again. test/support/killed-run.ts kills the run with SIGKILL right
// after the K-th line of its journal, for K at each finished batch of the apply and after each
// "rollback"/"undo-done" line of the rollback (between undo batches: e.g. b's namespace made
// again and its lo not yet marked). After each kill the next apply of kill-b.yaml must plan
// without errors (nothing the killed run left is foreign), converge (its second plan empty), and
// destroy must leave the kernel exactly as before (dumps compared). Then the sequences of the
// issue: an apply killed, then its repair failing and killed during its rollback (a second
// Ctrl-C); a repair killed in its apply phase; each followed by `tsnet plan` (no foreign object)
// and a converging apply.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession, type Mode } from '../../src/engine/index.js';
import type { JournalEntry } from '../../src/executor/journal.js';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { bundleKilledRun, runKilled } from '../support/killed-run-build.js';
import { ROOT, describeInLab, netnsNames, removeAll, run } from '../support/lab.js';

const NAME = 'kkill';
const BRIDGE = 'tsn-kkill';
const BIN = join(ROOT, 'bin', 'tsnet.js');
const topology = (sandboxes: string[]) => `version: 1
name: ${NAME}
networks:
  net: {driver: bridge, bridge: ${BRIDGE}, subnet: 198.18.70.0/24}
sandboxes:
${sandboxes.map((s) => `  ${s}: {endpoints: [{network: net}]}`).join('\n')}
`;

describeInLab('kill -9 at points of an apply and of its rollback', () => {
  let dir: string;
  let fileA: string;
  let fileB: string;
  let before: KernelDump;
  let bundle: string;
  const state = () => join(dir, 'state');
  const env = () => ({ NO_COLOR: '1', TSNET_STATE_DIR: state() });
  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));
  const progress = (): JournalEntry[] =>
    readFileSync(join(state(), `${NAME}.progress`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalEntry);

  /** Plans and applies in this process (journal on); returns the plan's errors and the verify's changes. */
  async function engine(file: string, mode: Mode = 'apply') {
    const s = await planSession(file, mode);
    try {
      if (s.plan.errors.length) return { errors: s.plan.errors.map((e) => `${e.address}: ${e.message}`), left: [] as string[], steps: 0 };
      const out = await applySession(s);
      return { errors: [] as string[], ok: out.result.ok, left: (out.verify?.changes ?? []).map((c) => `${c.action} ${c.address}`), steps: s.plan.steps.reduce((n, st) => n + st.do.length, 0) };
    } finally {
      await closeRunners(s.runners);
    }
  }

  /** After a kill: the repair plans without errors and converges; destroy leaves the lab as before. */
  async function repairAndDestroy(where: string) {
    const repair = await engine(fileB);
    expect(repair.errors, `${where}: the repair plan`).toEqual([]);
    expect(repair.ok, `${where}: the repair apply`).toBe(true);
    expect(repair.left, `${where}: left after the repair`).toEqual([]);
    const destroy = await engine(fileB, 'destroy');
    expect(destroy.errors, `${where}: the destroy plan`).toEqual([]);
    expect(destroy.ok, `${where}: destroy`).toBe(true);
    expect(await settledDump(before, 10_000), `${where}: the kernel after destroy`).toEqual(before);
  }

  /** kill-a.yaml applied; returns the number of lines the apply of kill-b.yaml runs. */
  async function fromA(): Promise<number> {
    const a = await engine(fileA);
    expect(a.errors).toEqual([]);
    expect(a.left).toEqual([]);
    const s = await planSession(fileB, 'apply');
    await closeRunners(s.runners);
    return s.plan.steps.reduce((n, st) => n + st.do.length, 0);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-kill-'));
    process.env.TSNET_STATE_DIR = state();
    fileA = join(dir, 'kill-a.yaml');
    fileB = join(dir, 'kill-b.yaml');
    writeFileSync(fileA, topology(['a', 'b']));
    writeFileSync(fileB, topology(['a', 'c']));
    bundle = await bundleKilledRun();
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    before = await quietDump();
  });
  afterAll(async () => {
    if (fileB) await engine(fileB, 'destroy').catch(() => undefined);
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    delete process.env.TSNET_STATE_DIR;
    if (bundle) rmSync(bundle, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('at each finished batch of the apply and between the undo batches of its rollback', async () => {
    // The whole run once, not killed: where its batches and undo batches are in the journal.
    const lines = await fromA();
    const whole = await runKilled(bundle, fileB, { killAfter: 0, fault: lines, env: env() });
    expect(whole.result, whole.all).toMatchObject({ ok: false, rollbackErrors: [], rollbackDiff: [] });
    const entries = progress();
    const at = (type: JournalEntry['type']) => entries.flatMap((e, i) => (e.type === type ? [i + 1] : []));
    const rollback = at('rollback')[0]!;
    expect(rollback).toBeGreaterThan(1);
    // Finished batches of the apply (2, spread: the first and the last), the start of the
    // rollback, and the ends of its undo batches (3, spread, the last included: b's namespace is
    // made again near the end).
    const spread = (list: number[], n: number) => (list.length <= n ? list : Array.from({ length: n }, (_, i) => list[Math.round((i * (list.length - 1)) / (n - 1))]!));
    const undoDone = at('undo-done').filter((k) => k < entries.length);
    const points = [...new Set([...spread(at('batch'), 2), rollback, ...spread(undoDone, 3)])];
    expect(points.length).toBeGreaterThanOrEqual(5);
    await engine(fileB, 'destroy');
    for (const k of points) {
      await fromA();
      const killed = await runKilled(bundle, fileB, { killAfter: k, fault: lines, env: env() });
      expect(killed.killed, `K=${k}: ${killed.all}`).toBe(true);
      await repairAndDestroy(`K=${k} (${entries[k - 1]!.type})`);
    }
  });

  it('the issue\'s sequence: apply killed; the repair fails and is stopped during its rollback; plan calls nothing foreign', async () => {
    await fromA();
    // The apply killed after its first finished batch.
    const first = await runKilled(bundle, fileB, { killAfter: 2, fault: 0, env: env() });
    expect(first.killed, first.all).toBe(true);
    // The repair: its last line fails; killed after the first undo batch of its rollback.
    const s = await planSession(fileB, 'apply');
    await closeRunners(s.runners);
    expect(s.plan.errors).toEqual([]);
    const repairLines = s.plan.steps.reduce((n, st) => n + st.do.length, 0);
    const whole = await runKilled(bundle, fileB, { killAfter: 0, fault: repairLines, env: env() });
    expect(whole.result?.ok, whole.all).toBe(false);
    // (That repair ran to its end and rolled back: the state is as after the first kill again.)
    const undoDone = progress().findIndex((e) => e.type === 'undo-done') + 1;
    expect(undoDone).toBeGreaterThan(0);
    const killed = await runKilled(bundle, fileB, { killAfter: undoDone, fault: repairLines, env: env() });
    expect(killed.killed, killed.all).toBe(true);
    const plan = await run(['node', BIN, 'plan', fileB], { env: env() });
    expect(plan.code, plan.all).toBe(0);
    expect(plan.all).not.toContain('foreign');
    expect(plan.stdout).toContain('was interrupted during its rollback');
    await repairAndDestroy('after the repair stopped during its rollback');
  });

  it('a repair killed in its apply phase, then a repair that rolls back to its end: still nothing foreign', async () => {
    await fromA();
    expect((await runKilled(bundle, fileB, { killAfter: 2, fault: 0, env: env() })).killed).toBe(true);
    // The repair killed after its first finished batch (before its mark steps all ran).
    expect((await runKilled(bundle, fileB, { killAfter: 2, fault: 0, env: env() })).killed).toBe(true);
    // A repair that fails at its first line and rolls back fully: nothing of what it took over
    // was marked, its journal is closed.
    const failed = await runKilled(bundle, fileB, { killAfter: 0, fault: 1, env: env() });
    expect(failed.result?.ok, failed.all).toBe(false);
    const plan = await run(['node', BIN, 'plan', fileB], { env: env() });
    expect(plan.code, plan.all).toBe(0);
    expect(plan.all).not.toContain('foreign');
    await repairAndDestroy('after a killed and a rolled-back repair');
  });
});
