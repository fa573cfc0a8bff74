// Isolation, internal networks and published ports (issue 15) with real traffic, on
// examples/firewall.yaml (topology "shop": web and worker on front, dual-stack; db and replica
// on back, internal; isolation with one allowed port; web publishes 8080 and 127.0.0.1:8081).
// The lab forwards (sysctl in the lab only) and holds a stand-in outside: a namespace
// "kfw-out" (203.0.113.2, TEST-NET-3) behind a veth from the lab's stack (203.0.113.1), routed
// back to the sandboxes. Tables tsnet does not own (a user's inet filter, a Docker-like ip nat
// with a rule) must come through every run byte for byte. Blocked traffic is a TCP connect that
// times out (the rules drop); reached is a connection or a refusal (an RST came back).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInLab, EXAMPLES, must, planChanges, removeAll, ROOT, run, start, tsnet, tsnetOk, type Started } from '../support/lab.js';

const FILE = join(EXAMPLES, 'firewall.yaml');
const TABLE = 'tsnet-shop';
const OUT = 'kfw-out';
const PROBE = join(ROOT, 'test', 'support', 'tcp-probe.mjs');
const FOREIGN = [
  ['inet', 'filter'],
  ['ip', 'nat'],
] as const;

type Result = 'connected' | 'refused' | 'timeout';

/** TCP connects from a namespace (null: the lab's own stack) to each target at once. */
async function probe(ns: string | null, ...targets: string[]): Promise<Record<string, { result: Result; data?: string }>> {
  const res = await run(['node', PROBE, 'probe', '600', ...targets], ns ? { ns } : {});
  if (res.code !== 0) throw new Error(`probe from ${ns ?? 'host'} failed:\n${res.all}`);
  return Object.fromEntries(res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { target: string; result: Result; data?: string }).map((r) => [r.target, r]));
}
const results = async (ns: string | null, ...targets: string[]) => Object.fromEntries(Object.entries(await probe(ns, ...targets)).map(([k, v]) => [k, v.data ? `${v.result} ${v.data}` : v.result]));

/** The tables tsnet does not own, as `nft list table` prints them. */
const foreignTables = async () => Promise.all(FOREIGN.map(([family, name]) => must(['nft', 'list', 'table', family, name])));

describeInLab('isolation, internal networks and published ports (nftables)', () => {
  let dir = '';
  let forwardBefore = '';
  let foreignBefore: string[] = [];
  let server: Started | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-kfw-'));
    await removeAll({ netns: [OUT], links: ['kfw-up'] });
    await must(['ip', 'netns', 'add', OUT]);
    await must(['ip', 'link', 'add', 'kfw-up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT]);
    await must(['ip', '-batch', '-'], { input: 'addr add 203.0.113.1/24 dev kfw-up\nlink set kfw-up up\n' });
    await must(['ip', '-batch', '-'], { ns: OUT, input: 'addr add 203.0.113.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add 198.18.0.0/15 via 203.0.113.1\n' });
    forwardBefore = (await must(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim();
    await must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await must(['nft', '-f', '-'], {
      input: [
        'add table inet filter',
        'add chain inet filter forward { type filter hook forward priority 0 ; policy accept ; }',
        'add rule inet filter forward ip daddr 192.0.2.1 counter accept',
        'add table ip nat',
        'add chain ip nat POSTROUTING { type nat hook postrouting priority srcnat ; }',
        'add rule ip nat POSTROUTING ip saddr 172.17.0.0/16 oifname != "docker0" masquerade',
        '',
      ].join('\n'),
    });
    foreignBefore = await foreignTables();
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    server = start(['node', PROBE, 'serve', '80', 'hello-from-web', '60'], { ns: 'shop-web' });
    // Listening once web answers itself.
    for (let i = 0; i < 50 && (await probe('shop-web', '127.0.0.1:80'))['127.0.0.1:80']?.result !== 'connected'; i++) await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(async () => {
    server?.kill('SIGTERM');
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: [OUT], links: ['kfw-up'] });
    for (const [family, name] of FOREIGN) await run(['nft', 'delete', 'table', family, name]);
    await run(['nft', 'delete', 'table', 'inet', TABLE]);
    if (forwardBefore) await run(['sysctl', '-q', '-w', `net.ipv4.ip_forward=${forwardBefore}`]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes the example\'s own checks, and plans no change', async () => {
    const check = await tsnet('check', FILE);
    expect(check.code, check.all).toBe(0);
    expect((await tsnetOk('plan', FILE)).trim()).toBe(`No changes. The kernel matches ${FILE}.`);
    expect(await foreignTables()).toEqual(foreignBefore);
  });

  it('answers the published port from outside, from a neighbour (hairpin), from the host, on 127.0.0.1 and over IPv6', async () => {
    expect(await results(OUT, '203.0.113.1:8080')).toEqual({ '203.0.113.1:8080': 'connected hello-from-web' });
    expect(await results('shop-worker', '198.18.80.1:8080', '203.0.113.1:8080')).toEqual({ '198.18.80.1:8080': 'connected hello-from-web', '203.0.113.1:8080': 'connected hello-from-web' });
    expect(await results(null, '203.0.113.1:8080', '127.0.0.1:8081', '[2001:db8:80::1]:8080', '127.0.0.1:8080')).toEqual({
      '203.0.113.1:8080': 'connected hello-from-web',
      '127.0.0.1:8081': 'connected hello-from-web',
      '[2001:db8:80::1]:8080': 'connected hello-from-web',
      // 8080 is published on the host's addresses but loopback; 127.0.0.1 only where asked.
      '127.0.0.1:8080': 'refused',
    });
    expect(readFileSync('/proc/sys/net/ipv4/conf/tsn-front/route_localnet', 'utf8').trim()).toBe('1');
    expect(readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8').trim()).toBe('0');
  });

  it('lets web reach its own published port through the host (hairpin mode on its bridge port), and repairs hairpin turned off by hand', async () => {
    const port = 'tsvce0cf8cb'; // web's host end on tsn-front
    const hairpin = async () => (JSON.parse(await must(['ip', '-d', '-json', 'link', 'show', 'dev', port])) as { linkinfo: { info_slave_data: { hairpin: boolean } } }[])[0]!.linkinfo.info_slave_data.hairpin;
    const own = ['198.18.80.1:8080', '203.0.113.1:8080'];
    const reached = { '198.18.80.1:8080': 'connected hello-from-web', '203.0.113.1:8080': 'connected hello-from-web' };
    expect(await hairpin()).toBe(true);
    expect(await results('shop-web', ...own)).toEqual(reached);
    // Without hairpin the bridge will not send the DNATed packet back out of the port it came in by.
    await must(['ip', 'link', 'set', 'dev', port, 'type', 'bridge_slave', 'hairpin', 'off']);
    expect(await results('shop-web', ...own)).toEqual({ '198.18.80.1:8080': 'timeout', '203.0.113.1:8080': 'timeout' });
    const plan = await tsnet('plan', '--detailed-exitcode', FILE);
    expect(plan.code, plan.all).toBe(2);
    expect(planChanges(plan.stdout)).toEqual(['~ endpoint.web.eth0']);
    expect(plan.stdout).toContain('host end hairpin off -> on');
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect(await hairpin()).toBe(true);
    expect((await tsnetOk('plan', FILE)).trim()).toBe(`No changes. The kernel matches ${FILE}.`);
    expect(await results('shop-web', ...own)).toEqual(reached);
  });

  it('keeps the internal network in, its neighbours and gateway reachable, while front reaches outside', async () => {
    expect(await results('shop-db', '203.0.113.2:9', '198.18.81.3:9', '198.18.81.1:9')).toEqual({ '203.0.113.2:9': 'timeout', '198.18.81.3:9': 'refused', '198.18.81.1:9': 'refused' });
    expect(await results('shop-web', '203.0.113.2:9')).toEqual({ '203.0.113.2:9': 'refused' });
  });

  it('repairs a rule deleted by hand (isolation) and one edited by hand (port), leaving other tables alone', async () => {
    const handle = async (chain: string, mark: string) => /# handle (\d+)/.exec((await must(['nft', '-a', 'list', 'chain', 'inet', TABLE, chain])).split('\n').find((l) => l.includes(`"tsnet:shop:${mark}"`))!)![1]!;
    await must(['nft', 'delete', 'rule', 'inet', TABLE, 'isolation-front', 'handle', await handle('isolation-front', 'isolation.front.back')]);
    await must(['nft', 'delete', 'rule', 'inet', TABLE, 'dnat-front', 'handle', await handle('dnat-front', 'port.web.8080/tcp')]);
    await must(['nft', 'add', 'rule', 'inet', TABLE, 'dnat-front', 'tcp', 'dport', '8080', 'dnat', 'ip', 'to', '198.18.80.3:80', 'comment', '"tsnet:shop:port.web.8080/tcp"']);
    const plan = await tsnet('plan', '--detailed-exitcode', FILE);
    expect(plan.code, plan.all).toBe(2);
    expect(planChanges(plan.stdout)).toEqual(['+ isolation.front.back', '~ port.web.8080/tcp']);
    expect(plan.stdout).toContain('rule "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat ip to 198.18.80.2:80" in chain dnat-front missing');
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
    expect((await tsnetOk('plan', FILE)).trim()).toBe(`No changes. The kernel matches ${FILE}.`);
    expect(await results(OUT, '203.0.113.1:8080')).toEqual({ '203.0.113.1:8080': 'connected hello-from-web' });
    expect(await foreignTables()).toEqual(foreignBefore);
  });

  it('isolates networks on its own, lets exactly the allowed port through, and plans the rules away when isolation goes', async () => {
    // back made an ordinary network: only isolation stands between front and back now.
    const open = join(dir, 'open.yaml');
    writeFileSync(open, readFileSync(FILE, 'utf8').replace(/\n    internal: true[^\n]*/, ''));
    await tsnetOk('apply', '--auto-approve', '-q', open);
    expect(await results('shop-web', '198.18.81.2:5432', '198.18.81.2:5433')).toEqual({ '198.18.81.2:5432': 'refused', '198.18.81.2:5433': 'timeout' });
    expect(await results('shop-worker', '198.18.81.2:5432')).toEqual({ '198.18.81.2:5432': 'timeout' }); // the allow names web only
    expect(await results('shop-db', '198.18.80.2:80', '203.0.113.2:9')).toEqual({ '198.18.80.2:80': 'timeout', '203.0.113.2:9': 'refused' });
    const none = join(dir, 'none.yaml');
    writeFileSync(none, readFileSync(open, 'utf8').replace(/\nisolation: true[^\n]*/, ''));
    const plan = await tsnetOk('plan', none);
    expect(planChanges(plan)).toEqual(['- allow.web.db.5432/tcp', '- isolation.back.front', '- isolation.front.back']);
    expect(await foreignTables()).toEqual(foreignBefore);
  });

  it('destroy removes the table and the bridges (and with them route_localnet), and nothing else', async () => {
    await tsnetOk('destroy', '--auto-approve', '-q', FILE);
    expect((await run(['nft', 'list', 'table', 'inet', TABLE])).code).not.toBe(0);
    expect(await foreignTables()).toEqual(foreignBefore);
    expect((await run(['ip', 'link', 'show', 'tsn-front'])).code).not.toBe(0);
  });
});
