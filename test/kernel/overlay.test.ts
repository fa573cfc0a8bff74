// Overlay (VXLAN) networks across hosts simulated by namespaces on one underlay (see
// test/support/hosts.ts). Fixtures: test/kernel/fixtures/overlay-*.yaml, topology "ovk".
import { sharedKey } from '../../src/appliers/names-content.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { makeUnderlay, type SimHost, type Underlay } from '../support/hosts.js';
import { deleteNetns, eventually, link, linkNames, links, must, netnsInode, netnsList, parsePlan, pings, planChanges, run, tsnet, type Ran } from '../support/kernel.js';
import { describeInLab } from '../support/lab.js';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor } from '../../src/state/runner.js';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { Fault, FaultyRunner } from '../support/faulty-runner.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
/** The shared hosts file of the sandboxes on red on a host (one per host: netns hosts share this machine's /etc/netns). */
const red = (host: string): string => `hostsfile.${sharedKey(host, ['red'])}`;
const TWO = join(FIXTURES, 'overlay-2hosts.yaml');
const THREE = join(FIXTURES, 'overlay-3hosts.yaml');
/** THREE with h3's sandbox removed again (h3 still declared). */
const IDLE = join(FIXTURES, 'overlay-3hosts-idle.yaml');

const HOSTS: SimHost[] = [
  { name: 'h1', netns: 'ovk-h1', underlay: '198.19.10.1' },
  { name: 'h2', netns: 'ovk-h2', underlay: '198.19.10.2' },
  { name: 'h3', netns: 'ovk-h3', underlay: '198.19.10.3' },
];
const hostNs = (h: string) => HOSTS.find((x) => x.name === h)!.netns;
const SANDBOXES = ['r1', 'r2', 'r3', 'r4', 'b1', 'b2'];

// ------------------------------------------------------------- what the topology implies

interface Fixture {
  hosts: Record<string, { via: string; underlay: string }>;
  networks: Record<string, { driver: string; vni: number }>;
  sandboxes: Record<string, { host: string; endpoints: { network: string; ip: string }[] }>;
}

const readFixture = (file: string): Fixture => parse(readFileSync(file, 'utf8')) as Fixture;

/** Docker's rule, which tsnet follows: 02:42 and the four bytes of the IPv4 address. */
const macOf = (ip: string): string => ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');

interface Entries {
  /** "<mac> dst <underlay>" of the VXLAN device's own forwarding table. */
  fdb: string[];
  /** "<ip> lladdr <mac> PERMANENT" of the VXLAN device. */
  neigh: string[];
}

/**
 * Per host, per overlay network present on it: every entry the topology implies. A network is
 * on the hosts with a sandbox on it; each floods to the others' underlay addresses and knows
 * every endpoint on the others by MAC (forwarding) and address (neighbour).
 */
function impliedEntries(f: Fixture): Map<string, Map<string, Entries>> {
  const out = new Map<string, Map<string, Entries>>(Object.keys(f.hosts).map((h) => [h, new Map()]));
  for (const net of Object.keys(f.networks)) {
    const members = Object.values(f.sandboxes).flatMap((sb) => sb.endpoints.filter((e) => e.network === net).map((e) => ({ host: sb.host, ip: e.ip })));
    const onHosts = Object.keys(f.hosts).filter((h) => members.some((m) => m.host === h));
    for (const h of onHosts) {
      const remote = members.filter((m) => m.host !== h);
      out.get(h)!.set(net, {
        fdb: [
          ...onHosts.filter((o) => o !== h).map((o) => `00:00:00:00:00:00 dst ${f.hosts[o]!.underlay}`),
          ...remote.map((m) => `${macOf(m.ip)} dst ${f.hosts[m.host]!.underlay}`),
        ].sort(),
        neigh: remote.map((m) => `${m.ip} lladdr ${macOf(m.ip)} PERMANENT`).sort(),
      });
    }
  }
  return out;
}

/** The entries of tsx-<net> on a host as the kernel holds them (undefined: no such device). */
async function kernelEntries(ns: string, net: string): Promise<Entries | undefined> {
  const dev = `tsx-${net}`;
  if (!(await linkNames(ns)).includes(dev)) return undefined;
  const fdb = JSON.parse(await must(['bridge', '-n', ns, '-json', 'fdb', 'show', 'dev', dev])) as { mac: string; dst?: string; state?: string }[];
  const neigh = JSON.parse(await must(['ip', '-n', ns, '-json', 'neigh', 'show', 'dev', dev])) as { dst: string; lladdr?: string; state?: string[] }[];
  return {
    // Entries with a destination are the VXLAN device's own (programmed); the others are the
    // bridge's view of its port (its own MAC, and MACs it learned), not forwarding over the tunnel.
    fdb: fdb
      .filter((e) => e.dst)
      .map((e) => `${e.mac} dst ${e.dst}${e.state === 'permanent' ? '' : ` (${e.state || 'dynamic'})`}`)
      .sort(),
    neigh: neigh.map((n) => `${n.dst} lladdr ${n.lladdr} ${(n.state ?? []).join(',')}`).sort(),
  };
}

async function expectEntriesOf(file: string): Promise<void> {
  const f = readFixture(file);
  const implied = impliedEntries(f);
  for (const host of Object.keys(f.hosts)) {
    for (const net of Object.keys(f.networks)) {
      expect(await kernelEntries(hostNs(host), net), `overlay ${net} on ${host}`).toEqual(implied.get(host)!.get(net));
    }
  }
  // The MACs the entries point at are the endpoints' real ones.
  for (const [name, sb] of Object.entries(f.sandboxes)) {
    expect((await link(`ovk-${name}`, 'eth0')).address, `MAC of ${name}/eth0`).toBe(macOf(sb.endpoints[0]!.ip));
  }
}

/** Echo requests the namespace's IP stack has received (Icmp InEchos of /proc/net/snmp). */
async function icmpInEchos(ns: string): Promise<number> {
  const lines = (await must(['cat', '/proc/net/snmp'], { ns })).split('\n').filter((l) => l.startsWith('Icmp: '));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InEchos')]);
}

/** The "~ network.red" of h1 and h2 in a plan changes forwarding and neighbour entries only. */
function expectOnlyEntryUpdates(planText: string): void {
  const plan = parsePlan(planText);
  for (const h of ['h1', 'h2']) {
    const reasons = plan.get(h)?.get('~ network.red') ?? [];
    expect(reasons.length, planText).toBeGreaterThan(0);
    for (const r of reasons) expect(r, planText).toMatch(/^(flood entry to|forwarding entry|neighbour) /);
  }
}

// ------------------------------------------------------------- identities (nothing replaced)

/** Per host: every link of its stack by name -> ifindex; per sandbox: namespace inode and eth0. */
async function identities(hosts: readonly string[], sandboxes: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const h of hosts) out[h] = Object.fromEntries((await links(hostNs(h))).map((l) => [l.ifname, l.ifindex]));
  for (const sb of sandboxes) out[sb] = { netns: netnsInode(`ovk-${sb}`), eth0: (await link(`ovk-${sb}`, 'eth0')).ifindex };
  return out;
}

describeInLab('overlay networks across simulated hosts', () => {
  let underlay: Underlay | undefined;
  /** The lab with the hosts and their underlay only: what the last destroy must leave. */
  let hostsOnly: KernelDump;

  beforeAll(async () => {
    underlay = await makeUnderlay('ovkul0', HOSTS);
    hostsOnly = await quietDump();
  });

  afterAll(async () => {
    await tsnet(['destroy', '--auto-approve', '-q', IDLE]);
    await deleteNetns(SANDBOXES.map((s) => `ovk-${s}`));
    await underlay?.remove();
  });

  it('two hosts: sandboxes on one overlay on different hosts ping each other, MTU 1450 inside', async () => {
    const res = await tsnet(['apply', '--auto-approve', '-q', TWO]);
    expect(res.code, res.all).toBe(0);
    expect(await pings('ovk-r1', '198.18.60.12')).toBe(true);
    expect(await pings('ovk-r2', '198.18.60.11')).toBe(true);
    expect(await pings('ovk-b1', '198.18.61.22')).toBe(true);

    for (const sb of ['r1', 'r2', 'b1', 'b2']) expect((await link(`ovk-${sb}`, 'eth0')).mtu, `${sb}/eth0`).toBe(1450);
    const f = readFixture(TWO);
    for (const h of ['h1', 'h2']) {
      for (const net of ['red', 'blue']) {
        expect((await link(hostNs(h), `tsn-${net}`)).mtu).toBe(1450);
        const vx = await link(hostNs(h), `tsx-${net}`);
        expect(vx.mtu).toBe(1450);
        expect(vx.master).toBe(`tsn-${net}`);
        expect(vx.linkinfo?.info_data).toMatchObject({ id: f.networks[net]!.vni, port: 4789, local: f.hosts[h]!.underlay, learning: false, proxy: true });
      }
    }
    const again = await tsnet(['plan', '--detailed-exitcode', TWO]);
    expect(again.code, again.all).toBe(0);
  });

  it('two hosts: the forwarding and neighbour entries are exactly those the topology implies', async () => {
    await expectEntriesOf(TWO);
  });

  it('adding an endpoint on a host already on the overlay changes only the other host\'s entries; removing it takes them away', async () => {
    const PLUS = join(FIXTURES, 'overlay-2hosts-plus.yaml');
    const before = await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2']);
    const plan = await tsnet(['plan', PLUS]);
    expect(plan.code, plan.all).toBe(0);
    const changes = planChanges(plan.stdout);
    expect(changes.get('h1'), plan.stdout).toEqual(['~ network.red', `~ ${red('h1')}`]); // r1 now sees r4 by name
    // r4 links to the file r2 already has (both on red, on h2).
    expect(changes.get('h2')?.sort(), plan.stdout).toEqual(['+ endpoint.r4.eth0', '+ hosts.r4', '+ sandbox.r4', `~ ${red('h2')}`]);
    const added = await tsnet(['apply', '--auto-approve', '-q', PLUS]);
    expect(added.code, added.all).toBe(0);
    await expectEntriesOf(PLUS);
    expect(await pings('ovk-r1', '198.18.60.14')).toBe(true);
    // Everything that was there is untouched (h2 has r4's host end besides).
    expect(await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2'])).toMatchObject(before);
    const removed = await tsnet(['apply', '--auto-approve', '-q', TWO]);
    expect(removed.code, removed.all).toBe(0);
    await expectEntriesOf(TWO);
    // r4's host end goes with its namespace, in the background.
    await eventually(async () => expect(await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2'])).toEqual(before));
  });

  it('a UDP port of its own and a MAC given in the file: the tunnel uses the port, the entries the MAC', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnet-ovk-port-'));
    try {
      const file = join(dir, 'port.yaml');
      writeFileSync(
        file,
        readFileSync(TWO, 'utf8')
          .replace('red: {driver: overlay, vni: 1001,', 'red: {driver: overlay, vni: 1001, port: 4790,')
          .replace('{network: red, ip: 198.18.60.12}', '{network: red, ip: 198.18.60.12, mac: "02:00:00:00:aa:12"}'),
      );
      const res = await tsnet(['apply', '--auto-approve', '-q', file]);
      expect(res.code, res.all).toBe(0);
      for (const h of ['h1', 'h2']) expect((await link(hostNs(h), 'tsx-red')).linkinfo?.info_data).toMatchObject({ port: 4790 });
      expect((await link('ovk-r2', 'eth0')).address).toBe('02:00:00:00:aa:12');
      expect((await kernelEntries('ovk-h1', 'red'))?.fdb).toContain('02:00:00:00:aa:12 dst 198.19.10.2');
      expect((await kernelEntries('ovk-h1', 'red'))?.neigh).toContain('198.18.60.12 lladdr 02:00:00:00:aa:12 PERMANENT');
      // r1 learned r2's old MAC by ARP in the tests before: like any host, it keeps it for a
      // while after the MAC changes. Forgotten, the new one is answered by the VXLAN proxy.
      await must(['ip', 'neigh', 'flush', 'dev', 'eth0'], { ns: 'ovk-r1' });
      expect(await pings('ovk-r1', '198.18.60.12')).toBe(true);
      expect((await tsnet(['plan', '--detailed-exitcode', file])).code).toBe(0);
      // Back to the fixture: port 4789 and the derived MAC again.
      expect((await tsnet(['apply', '--auto-approve', '-q', TWO])).code).toBe(0);
      await expectEntriesOf(TWO);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sandboxes on two overlays with different VNIs do not reach each other', async () => {
    expect(await pings('ovk-r1', '198.18.61.22')).toBe(false);
    // A stronger form: r1 (red, vni 1001, on h1) sends its echo requests in broadcast frames,
    // which every port of an L2 domain receives, on-link, so that no routing or ARP is involved.
    // r2 (red, on h2) answers them; b2 (blue, vni 1002, on h2) never even sees them.
    await must(['ip', 'route', 'add', '198.18.61.0/24', 'dev', 'eth0'], { ns: 'ovk-r1' });
    try {
      for (const ip of ['198.18.60.12', '198.18.61.22'])
        await must(['ip', 'neigh', 'replace', ip, 'lladdr', 'ff:ff:ff:ff:ff:ff', 'dev', 'eth0', 'nud', 'permanent'], { ns: 'ovk-r1' });
      expect(await pings('ovk-r1', '198.18.60.12')).toBe(true);
      const echoes = await icmpInEchos('ovk-b2');
      expect(await pings('ovk-r1', '198.18.61.22')).toBe(false);
      expect(await icmpInEchos('ovk-b2')).toBe(echoes);
    } finally {
      for (const ip of ['198.18.60.12', '198.18.61.22']) await run(['ip', 'neigh', 'del', ip, 'dev', 'eth0'], { ns: 'ovk-r1' });
      await run(['ip', 'route', 'del', '198.18.61.0/24', 'dev', 'eth0'], { ns: 'ovk-r1' });
    }
  });

  it('adding a third host changes only the entries on the other two hosts', async () => {
    const before = await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2']);
    const plan = await tsnet(['plan', THREE]);
    expect(plan.code, plan.all).toBe(0);
    const changes = planChanges(plan.stdout);
    expect(changes.get('h1'), plan.stdout).toEqual(['~ network.red', `~ ${red('h1')}`]);
    expect(changes.get('h2'), plan.stdout).toEqual(['~ network.red', `~ ${red('h2')}`]);
    expect(changes.get('h3')?.sort(), plan.stdout).toEqual(['+ endpoint.r3.eth0', '+ hosts.r3', `+ ${red('h3')}`, '+ network.red', '+ sandbox.r3']);
    expectOnlyEntryUpdates(plan.stdout);

    const res = await tsnet(['apply', '--auto-approve', '-q', THREE]);
    expect(res.code, res.all).toBe(0);
    await expectEntriesOf(THREE);
    expect(await pings('ovk-r3', '198.18.60.11')).toBe(true);
    expect(await pings('ovk-r2', '198.18.60.13')).toBe(true);
    expect(await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2'])).toEqual(before);
  });

  // A sandbox that leaves the topology is deleted by the host that held it (its namespace is
  // one of the machine's, shared by all netns hosts), not by the first host of the machine.
  it('removing the third host: the plan for h1 and h2 is only "~ network.red" and their hosts files, and the apply touches only the entries of the other hosts', async () => {
    const before = await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2']);
    const plan = await tsnet(['plan', IDLE]);
    expect(plan.code, plan.all).toBe(0);
    const changes = planChanges(plan.stdout);
    // Under h1 and h2 only an update of red's entries: nothing of r1, r2, b1, b2 or blue.
    for (const h of ['h1', 'h2']) expect(changes.get(h), plan.stdout).toEqual(['~ network.red', `~ ${red(h)}`]); // and the hosts files of red on each host
    expect(changes.get('h3')?.sort(), plan.stdout).toEqual(['- endpoint.r3.eth0', '- hosts.r3', `- ${red('h3')}`, '- network.red', '- sandbox.r3']);
    expectOnlyEntryUpdates(plan.stdout);

    const res = await tsnet(['apply', '--auto-approve', '-q', IDLE]);
    expect(res.code, res.all).toBe(0);
    await expectEntriesOf(IDLE);
    expect(await netnsList()).not.toContain('ovk-r3');
    await eventually(async () => expect(await linkNames('ovk-h3')).toEqual(['lo', 'wire']));
    expect(await identities(['h1', 'h2'], ['r1', 'r2', 'b1', 'b2'])).toEqual(before);
    expect(await pings('ovk-r1', '198.18.60.12')).toBe(true);
    const again = await tsnet(['plan', '--detailed-exitcode', IDLE]);
    expect(again.code, again.all).toBe(0);
  });

  it('a step failing on one host rolls back every host: kernel dumps and overlay entries as before', async () => {
    const nets = ['red', 'blue'];
    const entries = async () => {
      const out: Record<string, Entries | undefined> = {};
      for (const h of HOSTS) for (const net of nets) out[`${h.name}/${net}`] = await kernelEntries(h.netns, net);
      return out;
    };
    const before = await quietDump();
    const entriesBefore = await entries();
    const counted = await planSession(THREE, 'apply');
    await closeRunners(counted.runners);
    const total = counted.plan.steps.reduce((n, st) => n + st.do.length, 0);
    // The last line fails: by then the other hosts have done their part.
    const fault = new Fault(total);
    const s = await planSession(THREE, 'apply', { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
    try {
      const out = await applySession(s, { journal: false, concurrency: 1 });
      expect(out.result.ok).toBe(false);
      const failedOn = fault.fired!.host;
      expect(out.result.completed.some((st) => st.host !== failedOn), `steps done on hosts other than ${failedOn}`).toBe(true);
      expect(out.result.rollbackErrors).toEqual([]);
      expect(out.rollbackDiff).toEqual([]);
    } finally {
      await closeRunners(s.runners);
    }
    expect(await settledDump(before)).toEqual(before);
    expect(await entries()).toEqual(entriesBefore);
  });

  it('destroy leaves only the hosts and their wires, exactly as they were before the first apply', async () => {
    const res = await tsnet(['destroy', '--auto-approve', '-q', IDLE]);
    expect(res.code, res.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('ovk-'))).toEqual(['ovk-h1', 'ovk-h2', 'ovk-h3']);
    for (const h of HOSTS) await eventually(async () => expect(await linkNames(h.netns), h.name).toEqual(['lo', 'wire']));
    expect(await settledDump(hostsOnly)).toEqual(hostsOnly);
  });
});

describeInLab('examples/overlay-lab.sh', () => {
  const NAMESPACES = ['overlay-a', 'overlay-b', 'overlay-h1', 'overlay-h2'];

  afterAll(async () => {
    await tsnet(['destroy', '--auto-approve', '-q', 'examples/overlay.yaml']);
    await deleteNetns(NAMESPACES);
  });

  it('builds the underlay and applies examples/overlay.yaml; sandbox a pings b over VXLAN', async () => {
    const res = await run(['sh', 'examples/overlay-lab.sh']);
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toMatch(/1 packets transmitted, 1 received/);
    // The script ends with `tsnet check`: the file's checks passed (exit 0 under `set -e`).
    expect(res.stdout).toMatch(/Checks: \d+ passed, 0 failed\./);
    expect(await pings('overlay-b', '198.18.50.2')).toBe(true);
    const again = await tsnet(['plan', '--detailed-exitcode', 'examples/overlay.yaml']);
    expect(again.code, again.all).toBe(0);
  });

  it('a new VNI replaces the overlay on both hosts and puts the endpoints back on it, in one apply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnet-ovk-vni-'));
    try {
      const file = join(dir, 'overlay.yaml');
      writeFileSync(file, readFileSync('examples/overlay.yaml', 'utf8').replace(/vni: \d+/, 'vni: 4321'));
      const plan = await tsnet(['plan', file]);
      expect(plan.stdout).toMatch(/-\/\+ network\.tenant .*\n\s+vni \d+ -> 4321 \(forces replacement\)/);
      expect(plan.stdout).toContain('host end goes back on tsn-tenant when the bridge is made again');
      const res = await tsnet(['apply', '--auto-approve', '-q', file]);
      expect(res.code, res.all).toBe(0);
      expect(await pings('overlay-a', '198.18.50.3')).toBe(true);
      // Back to the example's VNI for the next test.
      expect((await tsnet(['apply', '--auto-approve', '-q', 'examples/overlay.yaml'])).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tsnet destroy examples/overlay.yaml leaves only the host namespaces and the wire', async () => {
    const res = await tsnet(['destroy', '--auto-approve', '-q', 'examples/overlay.yaml']);
    expect(res.code, res.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('overlay-'))).toEqual(['overlay-h1', 'overlay-h2']);
    await eventually(async () => expect(await linkNames('overlay-h1')).toEqual(['lo', 'wire-h1']));
    await eventually(async () => expect(await linkNames('overlay-h2')).toEqual(['lo', 'wire-h2']));
  });
});
