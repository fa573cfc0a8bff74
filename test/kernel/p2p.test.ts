// Point-to-point links for real (examples/p2p-chain.yaml): a -- r1 -- r2 -- b, every hop a veth
// pair straight from one sandbox to the next, static routes. Apply from the CLI: a pings b
// through both routers, the lab's own stack gets nothing, a second plan has nothing to do. An
// end deleted by hand takes its pair (traffic stops); the plan makes the pair again and traffic
// flows; a failure at the last line of that repair rolls back to the broken state exactly. Destroy
// leaves the lab as it was.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor } from '../../src/state/runner.js';
import { dumpDiff, quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { Fault, FaultyRunner } from '../support/faulty-runner.js';
import { EXAMPLES, describeInLab, must, pings, planChanges, removeAll, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(EXAMPLES, 'p2p-chain.yaml');
const NETNS = ['p2p-chain-a', 'p2p-chain-r1', 'p2p-chain-r2', 'p2p-chain-b'];

/** a and b reach each other, through both routers. */
const endToEnd = async () => [await pings('p2p-chain-a', '198.18.40.6'), await pings('p2p-chain-b', '198.18.40.0')];

describeInLab('p2p: a chain of point-to-point links', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS });
    empty = await quietDump();
  });
  afterAll(async () => {
    await removeAll({ netns: NETNS });
  });

  it('applies: traffic goes end to end through two routers, nothing is made on the host, nothing left to do', async () => {
    const hostLinks = await must(['ip', '-o', 'link', 'show']);
    await tsnetOk('apply', '--auto-approve', FILE);
    expect(await endToEnd()).toEqual([true, true]);
    // The first hop is a /31: both its addresses are the ends'.
    expect(await pings('p2p-chain-r1', '198.18.40.0')).toBe(true);
    expect(await must(['ip', '-o', 'link', 'show'])).toBe(hostLinks);
    const r1 = JSON.parse(await must(['ip', '-n', 'p2p-chain-r1', '-d', '-j', 'link', 'show', 'eth1'])) as { mtu: number; ifalias: string; linkinfo: { info_kind: string } }[];
    expect(r1[0]).toMatchObject({ mtu: 9000, ifalias: 'tsnet:p2p-chain:endpoint.r1.eth1/p2p:endpoint.r2.eth0', linkinfo: { info_kind: 'veth' } });
    const plan = await tsnet('plan', '--detailed-exitcode', FILE);
    expect(plan.code, plan.all).toBe(0);
  });

  it('an end deleted by hand takes its pair: the plan makes it again, and a failure in that repair rolls back', async () => {
    await must(['ip', '-n', 'p2p-chain-r2', 'link', 'del', 'eth0']);
    expect(await pings('p2p-chain-a', '198.18.40.6')).toBe(false);
    const broken = await quietDump();
    const plan = await tsnetOk('plan', FILE);
    expect(planChanges(plan)).toEqual(['+ endpoint.r1.eth1', '+ endpoint.r2.eth0', '+ route.r1.198.18.40.4/30', '+ route.r2.198.18.40.0/31']);

    // The last line (a route, after the pair is made and both ends configured) fails: the run
    // must leave the kernel as broken as it found it. Then a run without a fault repairs it.
    const counting = await planSession(FILE, 'apply');
    await closeRunners(counting.runners);
    const lines = counting.plan.steps.reduce((n, st) => n + st.do.length, 0);
    const problems: string[] = [];
    for (const k of [lines, 0]) {
      const fault = new Fault(k);
      const s = await planSession(FILE, 'apply', { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
      try {
        const out = await applySession(s, { journal: false });
        if (k === 0) {
          expect(out.result.ok, 'without a fault the apply succeeds').toBe(true);
          break;
        }
        if (out.result.ok || !fault.fired) problems.push(`K=${k}: the apply succeeded although line ${k} should fail`);
        if (out.result.rollbackErrors.length) problems.push(`K=${k}: rollback errors: ${out.result.rollbackErrors.join('; ')}`);
      } finally {
        await closeRunners(s.runners);
      }
      const after = await settledDump(broken);
      if (JSON.stringify(after) !== JSON.stringify(broken)) problems.push(`K=${k}: ${dumpDiff(broken, after).slice(0, 5).join('; ')}`);
    }
    expect(problems).toEqual([]);
    // The last run (no fault left to fire) repaired it.
    expect(await endToEnd()).toEqual([true, true]);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
  });

  it('destroy leaves the lab as it was', async () => {
    await tsnetOk('destroy', '--auto-approve', FILE);
    expect(await settledDump(empty)).toEqual(empty);
  });
});
