// A bridge that is only a switch (examples/switch.yaml: "gateway: none"), for real: the
// sandboxes reach each other on it and, through the router sandbox holding the subnet's first
// address, a server behind it; the lab's own stack has no address in the subnet, no route to
// it, and cannot reach it. Giving the network a gateway and taking it away again are in-place
// updates of the bridge (and the default route it gives).
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { EXAMPLES, describeInLab, must, pings, planChanges, removeAll, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(EXAMPLES, 'switch.yaml');
const NETNS = ['switch-a', 'switch-b', 'switch-router', 'switch-server'];

/** The lab stack's IPv4 addresses and routes that fall in 198.18.50.0/24. */
async function hostInSubnet(): Promise<string[]> {
  const addrs = JSON.parse(await must(['ip', '-4', '-j', 'addr', 'show'])) as { addr_info: { local: string }[] }[];
  const routes = JSON.parse(await must(['ip', '-4', '-j', 'route', 'show', 'table', 'all'])) as { dst: string }[];
  return [...addrs.flatMap((l) => l.addr_info.map((a) => a.local)), ...routes.map((r) => r.dst)].filter((a) => a.startsWith('198.18.50.'));
}

describeInLab('gateway: none: a switch the host takes no part in', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-lan'] });
    empty = await quietDump();
  });
  afterAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-lan'] });
  });

  it('sandboxes reach each other and, through the router, the server; the host is not in the subnet', async () => {
    await tsnetOk('apply', '--auto-approve', FILE);
    const reached = await Promise.all([pings('switch-a', '198.18.50.3'), pings('switch-a', '198.18.51.1'), pings('switch-server', '198.18.50.3')]);
    expect(reached).toEqual([true, true, true]);
    expect(await hostInSubnet()).toEqual([]);
    expect(await pings(null, '198.18.50.2')).toBe(false);
  });

  it('a gateway given and taken away again: the bridge is updated in place', async () => {
    const withGateway = join(tmpdir(), 'tsnet-switch-gw.yaml');
    writeFileSync(withGateway, readFileSync(FILE, 'utf8').replace('gateway: none ', 'gateway: 198.18.50.254 '));
    // The router has no default route of its own: the gateway gives it one.
    expect(planChanges(await tsnetOk('plan', withGateway))).toEqual(['~ network.lan', '+ route.router.default']);
    await tsnetOk('apply', '--auto-approve', withGateway);
    expect(await hostInSubnet()).toEqual(expect.arrayContaining(['198.18.50.254', '198.18.50.0/24']));
    expect(await pings(null, '198.18.50.2')).toBe(true);
    expect(planChanges(await tsnetOk('plan', FILE))).toEqual(['~ network.lan', '- route.router.default']);
    await tsnetOk('apply', '--auto-approve', FILE);
    expect(await hostInSubnet()).toEqual([]);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
  });

  it('destroy leaves the lab as it was', async () => {
    await tsnetOk('destroy', '--auto-approve', FILE);
    expect(await settledDump(empty)).toEqual(empty);
  });
});
