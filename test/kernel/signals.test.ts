// Signals during an apply (README "Exit codes"): SIGINT or SIGTERM once the journal records
// the first finished batch: the running batches finish, nothing new starts, the run rolls back
// ("Interrupted: rolling back N steps..."), says the kernel is as it was, and exits 130 (SIGTERM:
// 143), with the kernel dump identical to the one before. A second Ctrl-C stops at once (130),
// saying the journal is kept; the next apply repairs what it left to a clean second plan, and
// destroy leaves the lab as it was.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { ROOT, assertInLab, describeInLab, netnsNames, removeAll, run } from '../support/lab.js';

const NAME = 'ksig';
const SANDBOXES = 50;
const BRIDGE = 'tsn-ksig';
const BIN = join(ROOT, 'bin', 'tsnet.js');

describeInLab('signals: Ctrl-C and SIGTERM during apply', () => {
  let dir: string;
  let file: string;
  let before: KernelDump;
  const env = () => ({ ...process.env, NO_COLOR: '1', LC_ALL: 'C', TSNET_STATE_DIR: join(dir, 'state'), TSNET_TMPDIR: dir });
  const progress = () => join(dir, 'state', `${NAME}.progress`);
  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));
  const tsnet = (...args: string[]) => run(['node', BIN, ...args], { env: env() });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-signals-'));
    file = join(dir, `${NAME}.yaml`);
    const text = execFileSync(process.execPath, [join(ROOT, 'bench', 'gen-topology.mjs'), String(SANDBOXES), NAME]).toString();
    writeFileSync(file, text.replace('bridge: tsn-bench', `bridge: ${BRIDGE}`));
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    before = await quietDump();
  });
  afterAll(async () => {
    if (file) await tsnet('destroy', '--auto-approve', '-q', file);
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `tsnet apply`, and sends `signals` once the journal records a finished batch. */
  async function interrupt(signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
    assertInLab(['node', BIN, 'apply']);
    rmSync(progress(), { force: true }); // the last run's progress would read as this one's
    const child = spawn('node', [BIN, 'apply', '--auto-approve', '-q', file], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let ended = false;
    void exited.then(() => (ended = true));
    const until = async (cond: () => boolean, what: string) => {
      while (!cond()) {
        if (ended) throw new Error(`the apply ended before ${what}: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    await until(() => existsSync(progress()) && readFileSync(progress(), 'utf8').includes('"type":"batch"'), 'its first batch');
    child.kill(signals[0]);
    if (signals[1]) {
      // The second once tsnet has said it is stopping (the first was handled).
      await until(() => stderr.includes('stopping;'), 'the first signal was handled');
      child.kill(signals[1]);
    }
    return { code: await exited, stderr, stdout };
  }

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig}: the running batches finish, the run rolls back and exits ${code}; the kernel is as before`, async () => {
      const r = await interrupt([sig]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(/Interrupted: rolling back \d+ steps\.\.\./);
      expect(r.stderr).toContain('the kernel is as it was before');
      expect(r.stderr).not.toContain('internal error');
      expect(readFileSync(progress(), 'utf8')).toContain('"type":"rolled-back"');
      expect(await settledDump(before, 10_000)).toEqual(before);
    });
  }

  it('a second Ctrl-C stops at once (130), keeping the journal; the next apply repairs, destroy restores the lab', async () => {
    const r = await interrupt(['SIGINT', 'SIGINT']);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain(`Stopped at once, in the middle of the apply. The journal ${join(dir, 'state', `${NAME}.journal.json`)} is kept: the next "tsnet apply ${file}"`);
    expect(readFileSync(progress(), 'utf8')).not.toContain('"type":"rolled-back"');

    const plan = await tsnet('plan', file);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('was interrupted');
    expect(plan.all).not.toContain('foreign');
    const apply = await tsnet('apply', '--auto-approve', '-q', file);
    expect(apply.code, apply.all).toBe(0);
    const again = await tsnet('plan', '--detailed-exitcode', file);
    expect(again.code, again.all).toBe(0);
    const destroy = await tsnet('destroy', '--auto-approve', '-q', file);
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(before, 10_000)).toEqual(before);
  });
});
