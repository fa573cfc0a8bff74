// macvlan networks on a veth end standing in for a NIC (the parent, made by the test in the
// lab's own stack). Fixtures: test/kernel/fixtures/macvlan-*.yaml, topology "mvk".
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteNetns, eventually, link, must, netnsInode, netnsList, pings, planChanges, run, tsnet, type IpLink } from '../support/kernel.js';
import { describeInLab } from '../support/lab.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const PAIR = join(FIXTURES, 'macvlan-pair.yaml');
const PASSTHRU = join(FIXTURES, 'macvlan-passthru.yaml');
const MISSING = join(FIXTURES, 'macvlan-missing-parent.yaml');
const PARENT = 'mvk0';
const SANDBOXES = ['mvk-a', 'mvk-b'];

/** The parent as `ip -d -json link show` prints it (no -s: no traffic counters). */
const parentDump = (): Promise<IpLink> => link(undefined, PARENT);

/**
 * The parent without its promiscuity and allmulti counts: the kernel raises them itself while
 * macvlan sub-interfaces hang off a device without unicast filtering (veth), and lowers them
 * again when they go. Everything else must be as it was.
 */
const withoutRefcounts = ({ promiscuity: _p, allmulti: _a, ...rest }: IpLink) => rest;

const macvlanOf = async (ns: string) => {
  const l = await link(ns, 'eth0');
  return { kind: l.linkinfo?.info_kind, mode: l.linkinfo?.info_data?.mode, parent: l.link_index, ifindex: l.ifindex };
};

describeInLab('macvlan networks', () => {
  let dir = '';
  let parentBefore: IpLink;
  /** A copy of `file` with text replaced, in the test's own directory. */
  const variant = (file: string, name: string, edit: (text: string) => string): string => {
    const path = join(dir, name);
    writeFileSync(path, edit(readFileSync(file, 'utf8')));
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-mvk-'));
    await must(['ip', 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', `${PARENT}-peer`]);
    await must(['ip', 'link', 'set', `${PARENT}-peer`, 'up']);
    await must(['ip', 'link', 'set', PARENT, 'up']);
    parentBefore = await parentDump();
  });

  afterAll(async () => {
    for (const f of [PAIR, PASSTHRU]) await tsnet(['destroy', '--auto-approve', '-q', f]);
    await deleteNetns(SANDBOXES);
    await run(['ip', 'link', 'del', PARENT]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bridge mode: sandboxes reach each other, and the parent is not changed', async () => {
    const res = await tsnet(['apply', '--auto-approve', '-q', PAIR]);
    expect(res.code, res.all).toBe(0);
    for (const ns of SANDBOXES) expect(await macvlanOf(ns)).toMatchObject({ kind: 'macvlan', mode: 'bridge', parent: parentBefore.ifindex });
    expect(await pings('mvk-a', '198.18.40.11')).toBe(true);
    expect(withoutRefcounts(await parentDump())).toEqual(withoutRefcounts(parentBefore));
  });

  it('show gives the operational state beside the admin one: a parent without carrier leaves the sub-interfaces up but without carrier', async () => {
    interface ShowIf { sandbox: string; interface: string; state: string; operstate: string; carrier: boolean }
    const show = async () => {
      const res = await tsnet(['show', '--json', PAIR]);
      expect(res.code, res.all).toBe(0);
      return (JSON.parse(res.stdout) as { interfaces: ShowIf[] }).interfaces.filter((i) => i.interface === 'eth0');
    };
    // The stand-in NIC's cable pulled: its peer goes down, so it has no carrier.
    await must(['ip', 'link', 'set', `${PARENT}-peer`, 'down']);
    try {
      await eventually(async () => {
        for (const i of await show()) expect(i, i.sandbox).toMatchObject({ state: 'up', operstate: expect.stringMatching(/^(DOWN|LOWERLAYERDOWN)$/), carrier: false });
      });
      const text = await tsnet(['show', PAIR]);
      expect(text.stdout).toMatch(/^SANDBOX +NETNS +INTERFACE +KIND +STATE +OPERSTATE +MTU/m);
      expect(text.stdout).toMatch(/^a +mvk-a +eth0 +macvlan +up +(DOWN|LOWERLAYERDOWN) NO-CARRIER +1500 /m);
      expect(await pings('mvk-a', '198.18.40.11')).toBe(false);
      // Not drift: nothing tsnet manages differs.
      expect((await tsnet(['plan', '--detailed-exitcode', PAIR])).code).toBe(0);
    } finally {
      await must(['ip', 'link', 'set', `${PARENT}-peer`, 'up']);
    }
    await eventually(async () => {
      for (const i of await show()) expect(i, i.sandbox).toMatchObject({ state: 'up', operstate: 'UP', carrier: true });
    });
    expect((await tsnet(['show', PAIR])).stdout).toMatch(/^a +mvk-a +eth0 +macvlan +up +UP +1500 /m);
    expect(await pings('mvk-a', '198.18.40.11')).toBe(true);
  });

  it('changing the mode replaces the endpoints and the plan says why; in private mode sandboxes do not reach each other', async () => {
    const file = variant(PAIR, 'private.yaml', (t) => t.replace('mode: bridge', 'mode: private'));
    const plan = await tsnet(['plan', file]);
    expect(plan.code, plan.all).toBe(0);
    const changes = planChanges(plan.stdout).get('')!;
    expect(changes, plan.stdout).toEqual(expect.arrayContaining(['-/+ endpoint.a.eth0', '-/+ endpoint.b.eth0']));
    expect(changes.filter((c) => c.includes('sandbox.')), plan.stdout).toEqual([]);
    expect(plan.stdout).toMatch(/-\/\+ endpoint\.a\.eth0 .*\n\s+mode bridge -> private \(forces replacement\)/);

    const before = { netns: netnsInode('mvk-a'), eth0: (await macvlanOf('mvk-a')).ifindex };
    const res = await tsnet(['apply', '--auto-approve', '-q', file]);
    expect(res.code, res.all).toBe(0);
    for (const ns of SANDBOXES) expect(await macvlanOf(ns)).toMatchObject({ kind: 'macvlan', mode: 'private', parent: parentBefore.ifindex });
    expect(netnsInode('mvk-a')).toBe(before.netns);
    expect((await macvlanOf('mvk-a')).ifindex).not.toBe(before.eth0);
    expect(await pings('mvk-a', '198.18.40.11')).toBe(false);
    expect(withoutRefcounts(await parentDump())).toEqual(withoutRefcounts(parentBefore));
  });

  it('vepa mode applies', async () => {
    const file = variant(PAIR, 'vepa.yaml', (t) => t.replace('mode: bridge', 'mode: vepa'));
    const res = await tsnet(['apply', '--auto-approve', '-q', file]);
    expect(res.code, res.all).toBe(0);
    for (const ns of SANDBOXES) expect(await macvlanOf(ns)).toMatchObject({ kind: 'macvlan', mode: 'vepa', parent: parentBefore.ifindex });
    const again = await tsnet(['plan', '--detailed-exitcode', file]);
    expect(again.code, again.all).toBe(0);
  });

  it('changing the parent replaces the endpoints, the plan says why, and both parents stay as they were', async () => {
    await must(['ip', 'link', 'add', 'mvk1', 'type', 'veth', 'peer', 'name', 'mvk1-peer']);
    try {
      await must(['ip', 'link', 'set', 'mvk1', 'up']);
      const other = await link(undefined, 'mvk1');
      const file = variant(PAIR, 'parent.yaml', (t) => t.replace('parent: mvk0', 'parent: mvk1'));
      const plan = await tsnet(['plan', file]);
      expect(plan.code, plan.all).toBe(0);
      expect(plan.stdout).toMatch(/-\/\+ endpoint\.a\.eth0 .*\n\s+parent mvk0 -> mvk1 \(forces replacement\)/);
      const res = await tsnet(['apply', '--auto-approve', '-q', file]);
      expect(res.code, res.all).toBe(0);
      for (const ns of SANDBOXES) expect((await macvlanOf(ns)).parent).toBe(other.ifindex);
      expect((await tsnet(['plan', '--detailed-exitcode', file])).code).toBe(0);
      // Back on mvk0; mvk1 as it was, once its macvlans are freed.
      expect((await tsnet(['apply', '--auto-approve', '-q', PAIR])).code).toBe(0);
      await eventually(async () => expect(withoutRefcounts(await link(undefined, 'mvk1'))).toEqual(withoutRefcounts(other)));
    } finally {
      await run(['ip', 'link', 'del', 'mvk1']);
    }
  });

  it('destroy leaves the parent exactly as it was', async () => {
    const res = await tsnet(['destroy', '--auto-approve', '-q', PAIR]);
    expect(res.code, res.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('mvk-'))).toEqual([]);
    // The namespaces' macvlans are freed in the background: wait for the counts to drop back.
    await eventually(async () => expect(await parentDump()).toEqual(parentBefore));
  });

  it('passthru allows one endpoint only: it applies, and a second one is a validation error', async () => {
    const res = await tsnet(['apply', '--auto-approve', '-q', PASSTHRU]);
    expect(res.code, res.all).toBe(0);
    expect(await macvlanOf('mvk-a')).toMatchObject({ kind: 'macvlan', mode: 'passthru', parent: parentBefore.ifindex });
    expect(withoutRefcounts(await parentDump())).toEqual(withoutRefcounts(parentBefore));
    const again = await tsnet(['plan', '--detailed-exitcode', PASSTHRU]);
    expect(again.code, again.all).toBe(0);

    const two = variant(PASSTHRU, 'passthru-two.yaml', (t) => `${t}  b: {endpoints: [{network: lan}]}\n`);
    const validate = await tsnet(['validate', two]);
    expect(validate.code, validate.all).toBe(1);
    expect(validate.all).toMatch(/passthru-one-endpoint.*passthru.*one endpoint only; endpoint\.a\.eth0 has it/);
    expect(validate.all).toContain('(endpoint.b.eth0)');
    const apply = await tsnet(['apply', '--auto-approve', two]);
    expect(apply.code, apply.all).toBe(1);
    expect(apply.all).toContain('passthru-one-endpoint');
    expect(await netnsList()).not.toContain('mvk-b');

    const destroy = await tsnet(['destroy', '--auto-approve', '-q', PASSTHRU]);
    expect(destroy.code, destroy.all).toBe(0);
    await eventually(async () => expect(await parentDump()).toEqual(parentBefore));
  });

  it('a missing parent is a plan error naming it, and nothing is made', async () => {
    for (const cmd of [['plan'], ['apply', '--auto-approve']]) {
      const res = await tsnet([...cmd, MISSING]);
      expect(res.code, res.all).toBe(1);
      expect(res.all).toContain('parent interface "mvk-missing0" of the macvlan network does not exist on host "local"');
      expect(res.all).not.toMatch(/\n\s+at /);
    }
    expect((await netnsList()).filter((n) => n.startsWith('mvk-'))).toEqual([]);
  });
});
