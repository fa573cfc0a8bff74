// A link taken down on purpose (`up: false`), for real: examples/p2p-chain.yaml and
// examples/link-down.yaml are one topology, with r1's end of the r1-r2 link up and down. Taking it
// down stops traffic from a to b; the plan says "link up -> down" and leaves out r1's route
// through it (the kernel drops a down link's routes and refuses new ones); a failure at the last
// line rolls back; bringing it up restores traffic and the route. Each way converges.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor } from '../../src/state/runner.js';
import { dumpDiff, quietDump, settledDump } from '../support/dump.js';
import { Fault, FaultyRunner } from '../support/faulty-runner.js';
import { EXAMPLES, describeInLab, must, pings, planChanges, removeAll, tsnet, tsnetOk } from '../support/lab.js';

const UP = join(EXAMPLES, 'p2p-chain.yaml');
const DOWN = join(EXAMPLES, 'link-down.yaml');
const NETNS = ['p2p-chain-a', 'p2p-chain-r1', 'p2p-chain-r2', 'p2p-chain-b'];

const r1Eth1 = async () => (JSON.parse(await must(['ip', '-n', 'p2p-chain-r1', '-j', 'link', 'show', 'eth1'])) as { flags: string[] }[])[0]!.flags;
const r1Routes = async () => (JSON.parse(await must(['ip', '-n', 'p2p-chain-r1', '-j', 'route', 'show', 'proto', '116'])) as { dst: string }[]).map((r) => r.dst);

describeInLab('up: false: a link taken down and brought back', () => {
  beforeAll(async () => {
    await removeAll({ netns: NETNS });
    await tsnetOk('apply', '--auto-approve', UP);
  });
  afterAll(async () => {
    await removeAll({ netns: NETNS });
  });

  it('taking it down stops traffic; the plan says so and converges; a failure rolls back', async () => {
    expect(await pings('p2p-chain-a', '198.18.40.6')).toBe(true);
    const plan = await tsnetOk('plan', DOWN);
    expect(planChanges(plan)).toEqual(['~ endpoint.r1.eth1', '- route.r1.198.18.40.4/30']);
    expect(plan).toContain('      link up -> down\n');
    expect(plan).toContain('      its interface eth1 is down (up: false)\n');

    // The last line (the link going down, after the route's deletion) fails: all is put back.
    const before = await quietDump();
    const counting = await planSession(DOWN, 'apply');
    await closeRunners(counting.runners);
    const fault = new Fault(counting.plan.steps.reduce((n, st) => n + st.do.length, 0));
    const s = await planSession(DOWN, 'apply', { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
    try {
      const out = await applySession(s, { journal: false });
      expect(out.result.ok).toBe(false);
      expect(fault.fired?.line).toBe('link set dev eth1 down');
      expect(out.result.rollbackErrors).toEqual([]);
    } finally {
      await closeRunners(s.runners);
    }
    const after = await settledDump(before);
    expect(dumpDiff(before, after)).toEqual([]);

    await tsnetOk('apply', '--auto-approve', DOWN);
    expect(await r1Eth1()).not.toContain('UP');
    expect(await r1Routes()).toEqual([]);
    expect(await pings('p2p-chain-a', '198.18.40.6')).toBe(false);
    expect((await tsnet('plan', '--detailed-exitcode', DOWN)).code).toBe(0);
    // The file's own checks: r1 still answers, b does not.
    expect((await tsnet('check', DOWN)).code).toBe(0);
  });

  it('bringing it up (up: true, the default) restores traffic and the route', async () => {
    const plan = await tsnetOk('plan', UP);
    expect(planChanges(plan)).toEqual(['~ endpoint.r1.eth1', '+ route.r1.198.18.40.4/30']);
    expect(plan).toContain('      link is down\n');
    await tsnetOk('apply', '--auto-approve', UP);
    expect(await r1Eth1()).toContain('UP');
    expect(await r1Routes()).toEqual(['198.18.40.4/30']);
    expect(await pings('p2p-chain-a', '198.18.40.6')).toBe(true);
    expect((await tsnet('plan', '--detailed-exitcode', UP)).code).toBe(0);
  });
});
