// Interrupted runs (README "GitOps"): an apply of 60 sandboxes (bench/gen-topology.mjs) is
// killed with -9 once its journal records the first batch (the namespaces exist) and before it
// finishes (60 are enough: the run is far from done then, and is stopped within milliseconds). Then `tsnet plan` says the last apply was interrupted and that it repairs what it
// left (the half-made namespaces and veths are this topology's, not foreign clashes); `apply`
// takes over the dead run's lock and repairs it to a clean second plan; `destroy` leaves the lab
// as it was before (full kernel dumps compared).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { ROOT, alive, describeInLab, descendants, eventually, netnsNames, removeAll, start, tsnet, type Started } from '../support/lab.js';

const NAME = 'kint';
const SANDBOXES = 60;
const BRIDGE = 'tsn-kint';
const STATE = (suffix: string) => `/run/tsnet/${NAME}.${suffix}`;
const BIN = join(ROOT, 'bin', 'tsnet.js');

describeInLab('gitops: an apply killed with -9, then plan, repair and destroy', () => {
  let dir: string;
  let file: string;
  let before: KernelDump;
  let killed: Started | undefined;

  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-interrupted-'));
    file = join(dir, 'kint.yaml');
    const text = execFileSync(process.execPath, [join(ROOT, 'bench', 'gen-topology.mjs'), String(SANDBOXES), NAME]).toString();
    writeFileSync(file, text.replace('bridge: tsn-bench', `bridge: ${BRIDGE}`));
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    for (const f of ['lock', 'journal.json', 'progress']) rmSync(STATE(f), { force: true });
    before = await quietDump();
  });
  afterAll(async () => {
    if (killed && alive(killed.pid)) killed.kill('SIGKILL');
    if (file) await tsnet('destroy', '--auto-approve', '-q', file);
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    for (const f of ['lock', 'journal.json', 'progress']) rmSync(STATE(f), { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 after the namespaces exist and before the apply finishes', async () => {
    // Its batch files go to a directory of the test's own: a killed run cannot remove them.
    const a = start(['node', BIN, 'apply', '--auto-approve', '-q', file], { env: { NO_COLOR: '1', TSNET_TMPDIR: dir } });
    killed = a;
    let exited = false;
    void a.done.then(() => (exited = true));
    // A "batch" line naming sandbox steps is written when the batch that creates the namespaces
    // is done ("started" lines come before each batch; the names files' batch runs beside it and
    // may be done first).
    const batchDone = () =>
      existsSync(STATE('progress')) &&
      readFileSync(STATE('progress'), 'utf8')
        .split('\n')
        .some((l) => l.startsWith('{"type":"batch"') && l.includes('|sandbox.'));
    while (!batchDone()) {
      if (exited) throw new Error(`the apply ended before it was killed: ${(await a.done).all}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    a.kill('SIGSTOP');
    const children = descendants(a.pid);
    a.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    // Its ip processes end by themselves (their output has nowhere to go).
    await eventually(() => expect(children.filter(alive)).toEqual([]), 10_000);

    const progress = readFileSync(STATE('progress'), 'utf8');
    expect(progress, 'the apply finished before it was killed').not.toContain('"finished"');
    expect((await ours()).length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(STATE('lock'), 'utf8'))).toMatchObject({ pid: a.pid });
    for (const f of readdirSync(dir).filter((f) => f.startsWith('tsnet-batch-'))) rmSync(join(dir, f), { recursive: true, force: true });
  });

  it('plan says the last apply was interrupted and adopts what it half made', async () => {
    const plan = await tsnet('plan', file);
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).toContain(`Note: The last apply of "kint" (process ${killed!.pid}, started `);
    expect(plan.stdout).toMatch(/was interrupted after \d+ of its \d+ steps; this plan repairs what it left/);
    expect(plan.stdout).toContain(`left half-made by the interrupted apply (process ${killed!.pid}): marked as this topology's`);
    expect(plan.stdout).not.toContain('error');
    const json = JSON.parse((await tsnet('plan', '--json', file)).stdout) as { notes: string[]; errors: unknown[] };
    expect(json.errors).toEqual([]);
    expect(json.notes).toEqual([expect.stringContaining('was interrupted')]);
  });

  it('apply takes over the dead lock and repairs it to a clean second plan; destroy leaves the lab as before', async () => {
    const apply = await tsnet('apply', '--auto-approve', '-q', file);
    expect(apply.code, apply.all).toBe(0);
    expect(apply.stdout).toMatch(/^Apply complete! Resources: \d+ added, \d+ changed, 0 destroyed/);
    expect(existsSync(STATE('lock'))).toBe(false);
    const again = await tsnet('plan', '--detailed-exitcode', file);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toBe(`No changes. The kernel matches ${file}.`);
    expect(await ours()).toHaveLength(SANDBOXES);

    const destroy = await tsnet('destroy', '--auto-approve', '-q', file);
    expect(destroy.code, destroy.all).toBe(0);
    expect(destroy.stdout).toMatch(new RegExp(`^Destroy complete! Resources: ${4 * SANDBOXES + 2} destroyed`)); // each sandbox, endpoint, route, hosts link; the bridge and the shared hosts file
    expect(await settledDump(before, 10_000)).toEqual(before);
  });
});
