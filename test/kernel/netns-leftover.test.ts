// /run/netns/NAME left as a plain file with no namespace mounted on it, as a kill during
// `ip netns add` leaves it (reproduced here with touch): every plan, apply and destroy used to
// fail with nsenter's "reassociate to namespace 'ns/net' failed: Invalid argument". Not made by
// tsnet (no journal says so): a plan error naming the file and how to remove it, nothing
// changed. Made by tsnet (an apply killed, test/support/killed-run.ts, after journaling the
// start of the batch that makes the namespace): the next apply removes the file and makes the
// namespace, a second plan is empty, destroy leaves the lab as before.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { bundleKilledRun, runKilled } from '../support/killed-run-build.js';
import { ROOT, describeInLab, must, netnsNames, removeAll, run } from '../support/lab.js';

const NAME = 'klft';
const BRIDGE = 'tsn-klft';
const NS = `${NAME}-s0`;
const BIN = join(ROOT, 'bin', 'tsnet.js');
const TOPOLOGY = `version: 1
name: ${NAME}
networks:
  net: {driver: bridge, bridge: ${BRIDGE}, subnet: 198.18.60.0/24}
sandboxes:
  s0: {endpoints: [{network: net}]}
  s1: {endpoints: [{network: net}]}
`;

describeInLab('a leftover /run/netns file of a killed `ip netns add`', () => {
  let dir: string;
  let file: string;
  let before: KernelDump;
  let bundle: string;
  const env = () => ({ NO_COLOR: '1', TSNET_STATE_DIR: join(dir, 'state') });
  const tsnet = (...args: string[]) => run(['node', BIN, ...args], { env: env() });
  const ours = async () => (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`));
  const cleanup = async () => {
    rmSync(`/run/netns/${NS}`, { force: true });
    await removeAll({ netns: await ours(), links: [BRIDGE] });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-leftover-'));
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

  it('not made by tsnet: plan and apply refuse, naming the file and how to remove it; nothing changes', async () => {
    await must(['touch', `/run/netns/${NS}`]);
    for (const cmd of ['plan', 'apply']) {
      const r = await tsnet(...(cmd === 'apply' ? ['apply', '--auto-approve', file] : ['plan', file]));
      expect(r.code, r.all).toBe(1);
      expect(r.stderr).toContain(`sandbox.s0: cannot create namespace "${NS}": the name is taken by a leftover file /run/netns/${NS} with no namespace mounted on it`);
      expect(r.stderr).toContain(`remove it with "ip netns del ${NS}"`);
      expect(r.all).not.toContain('reassociate');
    }
    // (The test's dump cannot read the file either: compared once it is gone.)
    await must(['ip', 'netns', 'del', NS]);
    expect(existsSync(`/run/netns/${NS}`)).toBe(false);
    expect(await settledDump(before, 5000)).toEqual(before);
  });

  it("made by tsnet: the next apply removes the file and makes the namespace; destroy restores the lab", async () => {
    // Killed right after journaling the start of its first batch (the namespaces'): then
    // the namespace file stands as a kill inside `ip netns add` leaves it.
    await cleanup();
    const killed = await runKilled(bundle, file, { killAfter: 1, fault: 0, env: env() });
    expect(killed.killed, killed.all).toBe(true);
    await removeAll({ netns: await ours(), links: [BRIDGE] });
    await must(['touch', `/run/netns/${NS}`]);

    const plan = await tsnet('plan', file);
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).toContain(`/run/netns/${NS} is a leftover of the interrupted apply (a file with no namespace on it): removed, and the namespace made again`);
    const apply = await tsnet('apply', '--auto-approve', '-q', file);
    expect(apply.code, apply.all).toBe(0);
    const again = await tsnet('plan', '--detailed-exitcode', file);
    expect(again.code, again.all).toBe(0);
    expect(await ours()).toEqual([NS, `${NAME}-s1`]);
    const destroy = await tsnet('destroy', '--auto-approve', '-q', file);
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(before, 10_000)).toEqual(before);
  });
});
