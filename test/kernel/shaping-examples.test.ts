// examples/wan.yaml and examples/wan-rate.yaml for real (issue 12). wan.yaml asks for delay,
// which needs sch_netem: on a kernel without it (this machine's) the plan refuses it, naming the
// host and the module, and nothing changes; where the kernel has netem it applies and the round
// trip across the WAN is at least 40 ms. wan-rate.yaml (the rate alone, tbf) applies, converges,
// its checks pass, and destroy removes it.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeQdiscs, type QdiscProbe } from '../../src/state/qdisc-probe.js';
import { LocalRunner } from '../../src/state/runner.js';
import { EXAMPLES, describeInLab, must, netnsNames, removeAll, tsnet, tsnetOk } from '../support/lab.js';
import { measureRtt } from '../support/traffic.js';

const WAN = join(EXAMPLES, 'wan.yaml');
const WAN_RATE = join(EXAMPLES, 'wan-rate.yaml');
const NETNS = ['wan-host-a', 'wan-ra', 'wan-rb', 'wan-host-b', 'wan-rate-host-a', 'wan-rate-ra', 'wan-rate-rb', 'wan-rate-host-b'];

describeInLab('examples/wan.yaml and wan-rate.yaml', () => {
  let probe: QdiscProbe;
  beforeAll(async () => {
    await removeAll({ netns: NETNS });
    probe = await probeQdiscs(new LocalRunner('lab'));
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', WAN);
    await tsnet('destroy', '--auto-approve', WAN_RATE);
    await removeAll({ netns: NETNS });
  });

  it('wan.yaml: refused in the plan on a kernel without sch_netem, nothing changed', async (ctx) => {
    if (probe.ok && probe.has.netem) ctx.skip('this kernel has sch_netem: the next test applies wan.yaml');
    const res = await tsnet('apply', '--auto-approve', WAN);
    expect(res.code).toBe(1);
    expect(res.all).toContain('error: endpoint.ra.eth1: the kernel of host "local" has no sch_netem (the netem qdisc): delay, jitter, loss, duplicate, corrupt and reorder need it; load it with "modprobe sch_netem"');
    expect(res.all).toContain('nothing was changed');
    expect((await netnsNames()).filter((n) => n.startsWith('wan-'))).toEqual([]);
  });

  it('wan.yaml where the kernel has sch_netem: the round trip across the WAN is at least 40 ms', async (ctx) => {
    if (!probe.ok || !probe.has.netem) ctx.skip('this kernel has no sch_netem');
    await tsnetOk('apply', '--auto-approve', WAN);
    expect((await measureRtt('wan-host-a', '198.18.71.10')).minMs).toBeGreaterThanOrEqual(40);
    await tsnetOk('destroy', '--auto-approve', WAN);
  });

  it('wan-rate.yaml: applies with tbf on both routers\' WAN interfaces, its checks pass, destroy removes it', async () => {
    await tsnetOk('apply', '--auto-approve', WAN_RATE);
    for (const ns of ['wan-rate-ra', 'wan-rate-rb']) expect(await must(['tc', 'qdisc', 'show', 'dev', 'eth1'], { ns })).toMatch(/^qdisc tbf .* rate 10Mbit /);
    const check = await tsnet('check', WAN_RATE);
    expect(check.code, check.all).toBe(0);
    expect(check.stdout).toContain('Checks: 2 passed, 0 failed.');
    // show lists each link's shaping: the whole qdisc in JSON, what was written in the table.
    const show = JSON.parse(await tsnetOk('show', '--json', WAN_RATE)) as { interfaces: { sandbox: string; interface: string; shaping: string | null }[] };
    const shapingOf = (sandbox: string, dev: string) => show.interfaces.find((i) => i.sandbox === sandbox && i.interface === dev)?.shaping;
    expect([shapingOf('ra', 'eth1'), shapingOf('rb', 'eth1'), shapingOf('ra', 'eth0')]).toEqual(['tbf rate 10mbit burst 5000b limit 67500b', 'tbf rate 10mbit burst 5000b limit 67500b', null]);
    expect(await tsnetOk('show', WAN_RATE)).toMatch(/\nra +wan-rate-ra +eth1 .* tbf rate 10mbit\n/);
    await tsnetOk('destroy', '--auto-approve', WAN_RATE);
    expect((await netnsNames()).filter((n) => n.startsWith('wan-rate-'))).toEqual([]);
  });
});
