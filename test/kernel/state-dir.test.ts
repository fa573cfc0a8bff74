// A state directory (TSNET_STATE_DIR, here a tiny tmpfs of the lab's own mount namespace) that
// cannot take the journal: read-only, full before the run (room for the lock, not the
// journal's header), and full mid-apply (room for the header, not all of the progress). Each
// ends in a clean refusal before anything changes, or a rollback that says why; the kernel dump
// is as before, and no temporary file of tsnet's is left taking the room.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { ROOT, describeInLab, must, netnsNames, removeAll, run } from '../support/lab.js';

const NAME = 'kfull';
const SANDBOXES = 20;
const BRIDGE = 'tsn-kfull';
const BIN = join(ROOT, 'bin', 'tsnet.js');
const PAGE = 4096;

describeInLab('a state directory that cannot take the journal', () => {
  let dir: string;
  let state: string;
  let file: string;
  let before: KernelDump;
  const tsnet = (...args: string[]) => run(['node', BIN, ...args], { env: { NO_COLOR: '1', TSNET_STATE_DIR: state, TSNET_TMPDIR: dir } });
  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));
  /** Mounts a fresh tmpfs of `pages` pages on the state directory (options: e.g. ro). */
  const mountState = async (pages: number, extra = '') => {
    await run(['umount', state]);
    await must(['mount', '-t', 'tmpfs', '-o', `size=${pages * PAGE}${extra ? `,${extra}` : ''}`, 'tsnet-state-test', state]);
  };
  const pagesOf = (bytes: number) => Math.ceil(bytes / PAGE);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-state-dir-'));
    state = join(dir, 'state');
    mkdirSync(state);
    file = join(dir, `${NAME}.yaml`);
    const text = execFileSync(process.execPath, [join(ROOT, 'bench', 'gen-topology.mjs'), String(SANDBOXES), NAME]).toString();
    writeFileSync(file, text.replace('bridge: tsn-bench', `bridge: ${BRIDGE}`));
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    before = await quietDump();
  });
  afterAll(async () => {
    if (state) {
      await run(['umount', state]);
      await tsnet('destroy', '--auto-approve', '-q', file);
    }
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('read-only: refused before anything changes', async () => {
    await mountState(16, 'ro');
    const r = await tsnet('apply', '--auto-approve', '-q', file);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain('read-only file system');
    expect(r.all).not.toContain('internal error');
    expect(await ours()).toEqual([]);
    expect(await settledDump(before, 5000)).toEqual(before);
  });

  it('room for the lock, not the journal: refused before anything changes, no temporary file left', async () => {
    await mountState(1);
    const r = await tsnet('apply', '--auto-approve', '-q', file);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain(`Error: cannot write ${join(state, `${NAME}.journal.json`)}: no space left on the device (ENOSPC)`);
    expect(r.stderr).toContain('The apply was refused before anything changed');
    expect(r.all).not.toContain('internal error');
    expect(readdirSync(state)).toEqual([]);
    expect(await settledDump(before, 5000)).toEqual(before);
  });

  it('room for the journal, not its progress: stops mid-apply, rolls back, says why; no temporary file left', async () => {
    // How large this plan's header and progress are: from a run with room.
    await mountState(256);
    const ok = await tsnet('apply', '--auto-approve', '-q', file);
    expect(ok.code, ok.all).toBe(0);
    const header = statSync(join(state, `${NAME}.journal.json`)).size;
    const progress = statSync(join(state, `${NAME}.progress`)).size;
    expect(progress, 'the progress must need more than one page').toBeGreaterThan(PAGE);
    expect((await tsnet('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    expect(await settledDump(before, 10_000)).toEqual(before);

    // The lock's page, the header's pages, and one page of progress.
    await mountState(1 + pagesOf(header) + 1);
    const r = await tsnet('apply', '--auto-approve', '-q', file);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain(`Error: cannot write ${join(state, `${NAME}.progress`)}: no space left on the device (ENOSPC)`);
    expect(r.stderr).toContain('The apply stopped: its progress could not be journaled, so it was rolled back.');
    expect(r.stderr).toContain('the kernel is as it was before');
    expect(r.all).not.toContain('internal error');
    expect(readdirSync(state).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await settledDump(before, 10_000)).toEqual(before);
    // The journal is closed: the next plan does not call the run interrupted.
    const plan = await tsnet('plan', file);
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).not.toContain('interrupted');
  });
});
