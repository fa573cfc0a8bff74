// Adoption after a kill, in the lab (README "Safety"): a damaged journal (its header truncated,
// a garbage line in its progress) is named by plan, with the way out; `apply --adopt` takes the
// unmarked objects that match the file's names and kinds (shown in the plan), repairs them, and
// destroy leaves the lab as before. And adoption's limits: a namespace made by hand under a name
// the killed run was making is refused when it holds what tsnet would not make (an address, a
// process), or when it was made before the run began; the plan error names why.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { bundleKilledRun, runKilled } from '../support/killed-run-build.js';
import { ROOT, assertInLab, describeInLab, must, netnsNames, removeAll, run } from '../support/lab.js';

const NAME = 'kadopt';
const BRIDGE = 'tsn-kadopt';
const BIN = join(ROOT, 'bin', 'tsnet.js');
const TOPOLOGY = `version: 1
name: ${NAME}
networks:
  net: {driver: bridge, bridge: ${BRIDGE}, subnet: 198.18.80.0/24}
sandboxes:
  s0: {endpoints: [{network: net}]}
  s1: {endpoints: [{network: net}]}
`;

describeInLab('adoption after a kill: a damaged journal, --adopt, and what is refused', () => {
  let dir: string;
  let file: string;
  let before: KernelDump;
  let bundle: string;
  const state = () => join(dir, 'state');
  const journal = () => join(state(), `${NAME}.journal.json`);
  const env = () => ({ NO_COLOR: '1', TSNET_STATE_DIR: state() });
  const tsnet = (...args: string[]) => run(['node', BIN, ...args], { env: env() });
  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));
  const cleanup = async () => removeAll({ netns: await ours(), links: [BRIDGE] });
  /**
   * An apply killed once the batch that makes the namespaces is done (they and the bridge exist,
   * unmarked in part): the names files' batch may finish before it or beside it.
   */
  const killedApply = async () => {
    await cleanup();
    const k = await runKilled(bundle, file, { killAfter: 0, killAfterBatchOf: '|sandbox.', fault: 0, env: env() });
    expect(k.killed, k.all).toBe(true);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-adopt-'));
    file = join(dir, `${NAME}.yaml`);
    writeFileSync(file, TOPOLOGY);
    bundle = await bundleKilledRun();
    await cleanup();
    before = await quietDump();
  });
  afterAll(async () => {
    if (file) await tsnet('destroy', '--auto-approve', '-q', file);
    await cleanup();
    if (bundle) rmSync(bundle, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const damage of ['header', 'progress'] as const) {
    it(`a damaged journal (${damage}): plan names the file and the way out; apply --adopt repairs; destroy restores the lab`, async () => {
      await killedApply();
      // Unmarked leftovers the damaged journal can no longer vouch for: lo of s0 not yet marked.
      await must(['ip', '-n', `${NAME}-s0`, 'link', 'set', 'dev', 'lo', 'alias', '']).catch(() => undefined);
      if (damage === 'header') writeFileSync(journal(), readFileSync(journal(), 'utf8').slice(0, 100));
      else {
        const progress = join(state(), `${NAME}.progress`);
        writeFileSync(progress, `garbage\n${readFileSync(progress, 'utf8')}`);
      }
      const plan = await tsnet('plan', file);
      expect(plan.code, plan.all).toBe(1); // the unmarked objects are foreign now
      expect(plan.stderr).toContain(damage === 'header' ? `The journal of the last run is damaged: ${journal()} cannot be read:` : `${NAME}.progress line 1 is not a journal entry ("garbage")`);
      expect(plan.stderr).toContain(`"tsnet apply --adopt ${file}" takes over the unmarked namespaces and links`);

      const adopt = await tsnet('apply', '--adopt', '--auto-approve', file);
      expect(adopt.code, adopt.all).toBe(0);
      expect(adopt.stdout).toContain("unmarked, taken over with --adopt: marked as this topology's");
      const again = await tsnet('plan', '--detailed-exitcode', file);
      expect(again.code, again.all).toBe(0);
      const destroy = await tsnet('destroy', '--auto-approve', '-q', file);
      expect(destroy.code, destroy.all).toBe(0);
      expect(await settledDump(before, 10_000)).toEqual(before);
    });
  }

  it('a namespace made by hand under a name the killed run was making, holding an address and a process: refused, naming them', async () => {
    await killedApply();
    // The killed run's half-made namespace of s1 is replaced by one made by hand.
    await run(['ip', 'netns', 'del', `${NAME}-s1`]);
    await must(['ip', 'netns', 'add', `${NAME}-s1`]);
    await must(['ip', '-n', `${NAME}-s1`, 'addr', 'add', '192.0.2.9/32', 'dev', 'lo']);
    assertInLab(['ip', 'netns', 'exec', `${NAME}-s1`, 'sleep', '60']);
    const sleeper = spawn('ip', ['netns', 'exec', `${NAME}-s1`, 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const plan = await tsnet('plan', file);
      expect(plan.code, plan.all).toBe(1);
      expect(plan.stderr).toMatch(new RegExp(`sandbox\\.s1: namespace "${NAME}-s1" holds what the interrupted run would not make \\(address 192\\.0\\.2\\.9/32 on lo; process \\d+`));
    } finally {
      sleeper.kill('SIGKILL');
    }
    // Made before the run began (the run's start set after it, as when it was made between the
    // killed run's plan and its start): refused by its time alone.
    await must(['ip', '-n', `${NAME}-s1`, 'addr', 'del', '192.0.2.9/32', 'dev', 'lo']);
    await new Promise((r) => setTimeout(r, 200));
    const header = JSON.parse(readFileSync(journal(), 'utf8')) as { started: string };
    writeFileSync(journal(), JSON.stringify({ ...header, started: new Date().toISOString() }));
    const plan = await tsnet('plan', file);
    expect(plan.code, plan.all).toBe(1);
    expect(plan.stderr).toContain(`namespace "${NAME}-s1" was made at `);
    expect(plan.stderr).toContain('before the interrupted run began');
    // Removed by hand, the rest is repaired as usual.
    await must(['ip', 'netns', 'del', `${NAME}-s1`]);
    writeFileSync(journal(), JSON.stringify(header));
    const apply = await tsnet('apply', '--auto-approve', '-q', file);
    expect(apply.code, apply.all).toBe(0);
    const destroy = await tsnet('destroy', '--auto-approve', '-q', file);
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(before, 10_000)).toEqual(before);
  });
});
