// The CLI around apply and destroy: without --auto-approve and without a terminal to ask on,
// apply and destroy refuse (exit 1) and change nothing; destroy twice is a no-op the second
// time (exit 0); plan --detailed-exitcode tells changes from none; show lists the sandboxes
// with their namespaces, interfaces and addresses.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FIXTURES, describeInLab, removeAll, tsnet } from '../support/lab.js';

const FILE = join(FIXTURES, 'engine-three.yaml');
const NETNS = ['kt3-a', 'kt3-b', 'kt3-c'];

interface ShowJson {
  topology: string;
  interfaces: { sandbox: string; netns: string; interface: string; kind: string; state: string; addresses: string[]; master?: string }[];
  routes: { sandbox: string; to: string; via: string }[];
  missing: string[];
  differs: string[];
}

describeInLab('engine: CLI approval, destroy twice, show', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
    empty = await quietDump();
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', FILE);
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
  });

  it('apply without --auto-approve and without a terminal refuses with exit 1 and changes nothing', async () => {
    const res = await tsnet('apply', FILE);
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain('no terminal to ask on');
    expect(res.stderr).toContain('--auto-approve');
    // The plan was shown first, as terraform does.
    expect(res.stdout).toContain('+ sandbox.a');
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('plan --detailed-exitcode: 2 with changes, 0 once applied; show before and after apply', async () => {
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(2);
    const nothing = await tsnet('show', FILE);
    expect(nothing.code, nothing.all).toBe(0);
    expect(nothing.stdout).toContain('nothing of this topology exists');

    const apply = await tsnet('apply', '--auto-approve', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);

    const show = await tsnet('show', FILE);
    expect(show.code, show.all).toBe(0);
    const rows = show.stdout.split('\n');
    const row = (sandbox: string, netns: string, address: string) =>
      rows.find((r) => r.startsWith(`${sandbox} `) && r.includes(` ${netns} `) && r.includes(' eth0 ') && r.includes(address));
    expect(row('a', 'kt3-a', '198.18.80.10/24 2001:db8:80::10/64'), show.stdout).toBeDefined();
    expect(row('b', 'kt3-b', '198.18.80.2/24 2001:db8:80::2/64'), show.stdout).toBeDefined();
    expect(row('c', 'kt3-c', '198.18.80.3/24 2001:db8:80::3/64'), show.stdout).toBeDefined();
    // OPERSTATE: the kernel sets a bridge's carrier through linkwatch, up to a second after its
    // first port comes up, so right after apply it may still read UNKNOWN.
    expect(show.stdout).toMatch(/\(host\)\s+-\s+tsn-net\s+bridge\s+up\s+(UP|UNKNOWN)\s+1500\s+198\.18\.80\.1\/24 2001:db8:80::1\/64/);
    expect(show.stdout).toMatch(/c\s+198\.18\.81\.0\/24\s+198\.18\.80\.10\s+eth0/);

    const json = JSON.parse((await tsnet('show', '--json', FILE)).stdout) as ShowJson;
    expect(json.topology).toBe('kt3');
    expect(json.missing).toEqual([]);
    // (show also lists the kernel's own IPv6 link-local addresses; left out here.)
    const eth0 = json.interfaces
      .filter((i) => i.interface === 'eth0')
      .map((i) => [i.sandbox, i.netns, i.state, i.addresses.filter((a) => !a.startsWith('fe80:')).join(' ')]);
    expect(eth0.sort()).toEqual([
      ['a', 'kt3-a', 'up', '198.18.80.10/24 2001:db8:80::10/64'],
      ['b', 'kt3-b', 'up', '198.18.80.2/24 2001:db8:80::2/64'],
      ['c', 'kt3-c', 'up', '198.18.80.3/24 2001:db8:80::3/64'],
    ]);
    expect(json.interfaces.filter((i) => i.master === 'tsn-net')).toHaveLength(3);
  });

  it('destroy without --auto-approve and without a terminal refuses with exit 1 and changes nothing', async () => {
    const before = await quietDump();
    const res = await tsnet('destroy', FILE);
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain('no terminal to ask on');
    expect(await settledDump(before)).toEqual(before);
  });

  it('destroy twice: the first removes everything, the second is a no-op with exit 0', async () => {
    const first = await tsnet('destroy', '--auto-approve', FILE);
    expect(first.code, first.all).toBe(0);
    expect(first.stdout).toMatch(/Destroy complete! Resources: \d+ destroyed/);
    expect(await settledDump(empty)).toEqual(empty);
    const second = await tsnet('destroy', '--auto-approve', FILE);
    expect(second.code, second.all).toBe(0);
    expect(second.stdout).toContain('Nothing to destroy');
    expect(await settledDump(empty)).toEqual(empty);
    const show = JSON.parse((await tsnet('show', '--json', FILE)).stdout) as ShowJson;
    expect(show.interfaces).toEqual([]);
    // Everything the file names is missing: sandboxes, the network, its NAT, endpoints, routes.
    expect(show.missing).toEqual(expect.arrayContaining(['sandbox.a', 'sandbox.b', 'sandbox.c', 'network.net', 'nat.net', 'endpoint.a.eth0', 'route.c.198.18.81.0/24', 'route.a.default']));
    expect(show.differs).toEqual([]);
  });
});
