// A namespace with processes in it (as every real container's is) outlives `ip netns del`: its
// name goes, the namespace and its interfaces stay for the processes. tsnet sees the processes
// (test: a `sleep` entered into sandbox b) and deletes the interfaces first, so that destroy and
// removal leave nothing on the bridge, and the same sandbox can be made again at once. And a
// host end left behind by such a namespace (made without tsnet knowing) is replaced, not taken
// for a name clash. Fixture: engine-three.yaml (topology kt3).
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FIXTURES, describeInLab, eventually, must, removeAll, start, tsnet, tsnetOk, type Started } from '../support/lab.js';

const FILE = join(FIXTURES, 'engine-three.yaml');
const NETNS = ['kt3-a', 'kt3-b', 'kt3-c'];

/** Host-side links of topology kt3 still in the lab's stack. */
const hostEnds = async () => (await must(['ip', '-o', 'link', 'show'])).split('\n').filter((l) => l.includes('tsnet:kt3:endpoint.'));

describeInLab('engine: namespaces with processes in them', () => {
  let sleeper: Started | undefined;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
  });
  afterAll(async () => {
    sleeper?.kill('SIGKILL');
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
  });

  it("destroy deletes the interfaces of a namespace a process holds; the process keeps an empty namespace", async () => {
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    sleeper = start(['nsenter', '--net=/run/netns/kt3-b', '--', 'sleep', '60']);
    const inside = async () => readlinkSync(`/proc/${sleeper!.pid}/ns/net`);
    await new Promise((r) => setTimeout(r, 100));
    const before = await inside();
    const res = await tsnet('destroy', '--auto-approve', FILE);
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toContain('Namespace "kt3-b" (sandbox.b) has processes in it (pid ');
    // Sandbox b's host end is gone at once, although its namespace lives on (tsnet deleted it);
    // the others go with their namespaces, which the kernel frees in the background.
    expect((await hostEnds()).filter((l) => l.includes('endpoint.b.eth0'))).toEqual([]);
    await eventually(async () => expect(await hostEnds()).toEqual([]));
    expect(await inside()).toBe(before);
    const links = await must(['nsenter', `--net=/proc/${sleeper.pid}/ns/net`, '--', 'ip', '-o', 'link', 'show']);
    expect(links.trim().split('\n').map((l) => l.split(':')[1]!.trim())).toEqual(['lo']);
    // And the same topology can be made again right away.
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
    sleeper.kill('SIGKILL');
    await sleeper.done;
  });

  it('a host end whose namespace went without tsnet (held by a process) is replaced, not a name clash', async () => {
    // Sandbox b's namespace is deleted by hand while a process holds it: its veth stays.
    sleeper = start(['nsenter', '--net=/run/netns/kt3-b', '--', 'sleep', '60']);
    await new Promise((r) => setTimeout(r, 100));
    await must(['ip', 'netns', 'del', 'kt3-b']);
    const plan = await tsnet('plan', FILE);
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).not.toContain('error');
    expect(plan.stdout).toMatch(/-\/\+ endpoint\.b\.eth0 .*\n\s+host end \S+ has lost its peer \(forces replacement\)/);
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
    sleeper.kill('SIGKILL');
    await sleeper.done;
  });
});
