// NAT of bridge networks (`nat: true`) in the lab. A stand-in for the internet is made by hand:
// a namespace "knat-inet" (203.0.113.2, TEST-NET-3) joined to the lab's stack by a veth pair
// (uplink knat-up, 203.0.113.1). It has no route back to the sandbox's subnet, so a sandbox's
// ping is answered only when the lab stack masquerades it. Both, and a foreign nftables table,
// are not tsnet's: they must come through every run unchanged. Topology "knat".
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dumpNft } from '../support/dump.js';
import { describeInLab, FIXTURES, must, pings, planChanges, removeAll, run, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(FIXTURES, 'nat.yaml');
const INET = 'knat-inet';
const SANDBOX = 'knat-app';
const TABLE = 'tsnet-knat';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tsnet.js');

/** tsnet's table as `nft list` prints it; '' when there is none. */
async function table(): Promise<string> {
  const res = await run(['nft', 'list', 'table', 'inet', TABLE]);
  return res.code === 0 ? res.stdout : '';
}

/** The foreign table the lab holds throughout (a user's firewall). */
const foreign = async () => (await dumpNft()).filter((o) => JSON.stringify(o).includes('"knat-user"'));

describeInLab('NAT of bridge networks (nftables)', () => {
  let dir = '';
  let forwardBefore = '';
  let foreignBefore: unknown[] = [];
  const variant = (name: string, edit: (t: string) => string) => {
    const path = join(dir, name);
    writeFileSync(path, edit(readFileSync(FILE, 'utf8')));
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-knat-'));
    await removeAll({ netns: [INET, SANDBOX], links: ['knat-up', 'tsn-private'] });
    await run(['nft', 'delete', 'table', 'inet', TABLE]);
    await must(['ip', 'netns', 'add', INET]);
    await must(['ip', 'link', 'add', 'knat-up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', INET]);
    await must(['ip', '-batch', '-'], { input: 'addr add 203.0.113.1/24 dev knat-up\nlink set knat-up up\n' });
    await must(['ip', '-batch', '-'], { ns: INET, input: 'addr add 203.0.113.2/24 dev eth0\nlink set eth0 up\nlink set lo up\n' });
    forwardBefore = (await must(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim();
    await must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await must(['nft', '-f', '-'], { input: 'add table inet knat-user\nadd chain inet knat-user output { type filter hook output priority 0 ; }\nadd rule inet knat-user output ip daddr 192.0.2.1 counter accept\n' });
    foreignBefore = await foreign();
    expect(foreignBefore.length).toBe(3);
  });

  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: [INET, SANDBOX], links: ['knat-up'] });
    await run(['nft', 'delete', 'table', 'inet', 'knat-user']);
    await run(['nft', 'delete', 'table', 'inet', TABLE]);
    if (forwardBefore) await run(['sysctl', '-q', '-w', `net.ipv4.ip_forward=${forwardBefore}`]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without nat the sandbox gets no answer from the stand-in internet (it has no route back)', async () => {
    const file = variant('no-nat.yaml', (t) => t.replace('nat: true', 'nat: false'));
    await tsnetOk('apply', '--auto-approve', '-q', file);
    expect(await table()).toBe('');
    expect(await pings(SANDBOX, '203.0.113.2')).toBe(false);
  });

  it('turning nat on adds only the chain, in a table of its own, and the answers come back', async () => {
    const plan = await tsnet('plan', FILE);
    expect(plan.code, plan.all).toBe(0);
    expect(planChanges(plan.stdout)).toEqual(['+ nat.private']);
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    const text = await table();
    expect(text).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(text).toContain('ip saddr 198.18.72.0/24 oifname != "tsn-private" masquerade comment "tsnet:knat:nat.private"');
    expect(text.match(/masquerade/g)).toHaveLength(1);
    expect(await pings(SANDBOX, '203.0.113.2')).toBe(true);
    expect(await foreign()).toEqual(foreignBefore);
    const again = await tsnet('plan', '--detailed-exitcode', FILE);
    expect(again.code, again.all).toBe(0);
  });

  it('a rule removed by hand is drift: the plan names it and apply puts it back', async () => {
    await must(['nft', 'flush', 'chain', 'inet', TABLE, 'nat-private']);
    expect(await pings(SANDBOX, '203.0.113.2')).toBe(false);
    const plan = await tsnet('plan', '--detailed-exitcode', FILE);
    expect(plan.code, plan.all).toBe(2);
    expect(planChanges(plan.stdout)).toEqual(['~ nat.private']);
    expect(plan.stdout).toContain('rule "masquerade 198.18.72.0/24 leaving by any interface but tsn-private" missing');
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect(await pings(SANDBOX, '203.0.113.2')).toBe(true);
  });

  it('the plan notes when the host does not forward, and changes nothing of the host', async () => {
    await must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    try {
      const plan = await tsnet('plan', FILE);
      expect(plan.code, plan.all).toBe(0);
      expect(plan.stdout).toContain('Host "local" does not forward IPv4 (net.ipv4.ip_forward = 0)');
      expect(plan.stdout).toContain('No changes.');
      await tsnetOk('apply', '--auto-approve', '-q', FILE);
      expect((await must(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('0');
    } finally {
      await must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    }
  });

  it('nat: false again removes the table, and only it', async () => {
    const file = variant('no-nat.yaml', (t) => t.replace('nat: true', 'nat: false'));
    const plan = await tsnet('plan', file);
    expect(planChanges(plan.stdout)).toEqual(['- nat.private']);
    await tsnetOk('apply', '--auto-approve', '-q', file);
    expect(await table()).toBe('');
    expect(await foreign()).toEqual(foreignBefore);
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect(await pings(SANDBOX, '203.0.113.2')).toBe(true);
  });

  it('destroy removes the table with the rest; the uplink, the stand-in internet and the foreign table stay', async () => {
    await tsnetOk('destroy', '--auto-approve', '-q', FILE);
    expect(await table()).toBe('');
    expect(await foreign()).toEqual(foreignBefore);
    expect((await must(['ip', '-json', 'netns', 'list'])).includes(INET)).toBe(true);
    expect((await must(['ip', '-o', 'addr', 'show', 'dev', 'knat-up'])).includes('203.0.113.1/24')).toBe(true);
    expect(await pings(null, '203.0.113.2')).toBe(true);
  });

  it('without nft on the host, a topology with nat is a plan error naming it, and nothing is made', async () => {
    // A PATH with ip, sysctl and nsenter but no nft.
    const bin = join(dir, 'bin');
    await must(['mkdir', '-p', bin]);
    for (const tool of ['/usr/sbin/ip', '/usr/sbin/sysctl', '/usr/sbin/bridge']) await must(['ln', '-sf', tool, join(bin, tool.split('/').pop()!)]);
    const res = await run(['node', BIN, 'apply', '--auto-approve', FILE], { env: { NO_COLOR: '1', PATH: `${bin}:/usr/bin:/bin` } });
    expect(res.code, res.all).toBe(1);
    expect(res.all).toContain('nat.private: nat needs nftables on host "local": nft (Debian package nftables) is not installed');
    expect(await netnsNamesHas(SANDBOX)).toBe(false);
    expect(await table()).toBe('');
  });
});

async function netnsNamesHas(name: string): Promise<boolean> {
  const out = (await must(['ip', '-json', 'netns', 'list'])).trim();
  return out ? (JSON.parse(out) as { name: string }[]).some((n) => n.name === name) : false;
}

describeInLab('examples/nat-lab.sh', () => {
  let forwardBefore = '';
  beforeAll(async () => {
    forwardBefore = (await must(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim();
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', 'examples/nat.yaml');
    await removeAll({ netns: ['internet'], links: ['uplink'] });
    await run(['sysctl', '-q', '-w', `net.ipv4.ip_forward=${forwardBefore}`]);
  });

  it('builds the stand-in internet, applies examples/nat.yaml, and the sandbox is answered through the NAT', async () => {
    const res = await run(['sh', 'examples/nat-lab.sh']);
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toMatch(/1 packets transmitted, 1 received/);
    expect(res.stdout).toContain('ip saddr 198.18.64.0/24 oifname != "tsn-private" masquerade comment "tsnet:nat:nat.private"');
  });

  it('destroy removes the table and leaves the stand-in internet alone', async () => {
    await tsnetOk('destroy', '--auto-approve', '-q', 'examples/nat.yaml');
    expect((await run(['nft', 'list', 'table', 'inet', 'tsnet-nat'])).code).not.toBe(0);
    expect(await pings(null, '203.0.113.2')).toBe(true);
  });
});
