// Adding a sandbox to, or removing one from, an applied topology touches only that sandbox: the
// plan's changes name only it, and the other sandboxes keep their namespaces (same inode), their
// interfaces (same ifindex, inside and on the host side), their addresses and their routes.
// Automatic addresses stay where they are: a new sandbox listed first does not take b's.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FIXTURES, describeInLab, must, netnsNames, pings, planChanges, removeAll, tsnet, tsnetOk } from '../support/lab.js';
import { sharedKey } from '../../src/appliers/names-content.js';

/** The hosts file the sandboxes on "net" share (their hosts are links to it). */
const SHARED = `hostsfile.${sharedKey('local', ['net'])}`;

const THREE = join(FIXTURES, 'engine-three.yaml');
const FOUR = join(FIXTURES, 'engine-four.yaml');
const FOUR_WITHOUT_B = join(FIXTURES, 'engine-four-without-b.yaml');
const READDRESS = join(FIXTURES, 'engine-readdress.yaml');
const NETNS = ['kt3-a', 'kt3-b', 'kt3-c', 'kt3-new'];

interface Link {
  ifindex: number;
  ifname: string;
  master?: string;
  ifalias?: string;
  addr_info?: { local: string; prefixlen: number; scope: string }[];
}

/** What must not change for a sandbox: namespace identity, both veth ends, addresses, routes. */
async function identity(sandbox: string): Promise<unknown> {
  const ns = `kt3-${sandbox}`;
  const inner = (JSON.parse(await must(['ip', '-json', 'addr', 'show', 'dev', 'eth0'], { ns })) as Link[])[0]!;
  const hostLinks = JSON.parse(await must(['ip', '-d', '-json', 'link', 'show'])) as Link[];
  const outer = hostLinks.find((l) => l.ifalias === `tsnet:kt3:endpoint.${sandbox}.eth0/peer`);
  if (!outer) throw new Error(`no host end for ${sandbox}`);
  return {
    netnsInode: statSync(`/run/netns/${ns}`).ino,
    inner: { ifindex: inner.ifindex, addresses: (inner.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`) },
    outer: { ifindex: outer.ifindex, ifname: outer.ifname, master: outer.master },
    routes: JSON.parse(await must(['ip', '-json', 'route', 'show', 'table', 'all'], { ns })) as unknown,
  };
}

/** Identities of the sandboxes, once the kernel has settled (IPv6 link-local addresses past DAD). */
async function identities(sandboxes: string[]): Promise<Record<string, unknown>> {
  await quietDump();
  return Object.fromEntries(await Promise.all(sandboxes.map(async (s) => [s, await identity(s)] as const)));
}

const addressesOf = async (sandbox: string) => ((await identity(sandbox)) as { inner: { addresses: string[] } }).inner.addresses;

describeInLab('engine: adding or removing a sandbox touches only that sandbox', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
    empty = await quietDump();
    await tsnetOk('apply', '--auto-approve', THREE);
  });
  afterAll(async () => {
    const destroy = await tsnet('destroy', '--auto-approve', FOUR);
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('adding sandbox "new" (listed first, automatic addresses) changes nothing of a, b and c', async () => {
    const before = await identities(['a', 'b', 'c']);
    const bridge = await must(['ip', '-d', '-json', 'link', 'show', 'dev', 'tsn-net']);
    const plan = await tsnet('plan', FOUR);
    expect(plan.code, plan.all).toBe(0);
    expect(planChanges(plan.stdout).sort()).toEqual(
      // The hosts file a, b and c share gains new's names, new links to it (the kernel objects of a, b and c stay as they are).
      ['+ endpoint.new.eth0', '+ hosts.new', '+ route.new.default', '+ route.new.default-ipv6', '+ sandbox.new', `~ ${SHARED}`],
    );
    const apply = await tsnet('apply', '--auto-approve', FOUR);
    expect(apply.code, apply.all).toBe(0);
    expect(await identities(['a', 'b', 'c'])).toEqual(before);
    const [was] = JSON.parse(bridge) as { ifindex: number; address: string }[];
    const [now] = JSON.parse(await must(['ip', '-d', '-json', 'link', 'show', 'dev', 'tsn-net'])) as { ifindex: number; address: string }[];
    expect(now!.ifindex).toBe(was!.ifindex);
    // The bridge keeps its own MAC (tsnet sets it): left to the kernel it would take a new port's
    // lower one, and every sandbox would lose its gateway until it probed it again.
    expect(now!.address).toBe(was!.address);
    // The lowest free addresses: b and c keep .2 and .3.
    expect(await addressesOf('new')).toEqual(['198.18.80.4/24', '2001:db8:80::4/64']);
    expect(await pings('kt3-new', '198.18.80.2')).toBe(true);
    expect(await pings('kt3-b', '198.18.80.4')).toBe(true);
    expect((await tsnet('plan', FOUR)).stdout).toContain('No changes.');
  });

  it('removing sandbox b changes nothing of a, c and new', async () => {
    const before = await identities(['a', 'c', 'new']);
    const plan = await tsnet('plan', FOUR_WITHOUT_B);
    expect(plan.code, plan.all).toBe(0);
    expect(planChanges(plan.stdout).sort()).toEqual([
      '- endpoint.b.eth0',
      '- hosts.b',
      '- route.b.default',
      '- route.b.default-ipv6',
      '- sandbox.b',
      `~ ${SHARED}`,
    ]);
    const apply = await tsnet('apply', '--auto-approve', FOUR_WITHOUT_B);
    expect(apply.code, apply.all).toBe(0);
    expect(await identities(['a', 'c', 'new'])).toEqual(before);
    expect(await netnsNames()).not.toContain('kt3-b');
    expect((await tsnet('plan', FOUR_WITHOUT_B)).stdout).toContain('No changes.');
    // And back: b returns with its old addresses, the others still untouched.
    await tsnetOk('apply', '--auto-approve', FOUR);
    expect(await addressesOf('b')).toEqual(['198.18.80.2/24', '2001:db8:80::2/64']);
    expect(await identities(['a', 'c', 'new'])).toEqual(before);
  });

  // The kernel drops a link's IPv4 routes when its last IPv4 address goes: the plan adds them
  // back after the new address.
  it("changing a sandbox's only IPv4 address keeps its routes, and touches no other sandbox", async () => {
    await tsnetOk('apply', '--auto-approve', THREE);
    const before = await identities(['b', 'c']);
    try {
      const plan = await tsnet('plan', READDRESS);
      expect(planChanges(plan.stdout).sort(), plan.stdout).toEqual(['~ endpoint.a.eth0', `~ ${SHARED}`, '~ route.a.default']);
      const apply = await tsnet('apply', '--auto-approve', READDRESS);
      expect(apply.code, apply.all).toBe(0);
      expect(await must(['ip', 'route', 'show'], { ns: 'kt3-a' })).toContain('default via 198.18.80.1');
      expect(await addressesOf('a')).toEqual(['198.18.80.20/24', '2001:db8:80::10/64']);
      expect(await pings('kt3-a', '198.18.80.2')).toBe(true);
      expect(await identities(['b', 'c'])).toEqual(before);
    } finally {
      await tsnet('apply', '--auto-approve', FOUR);
    }
  });
});
