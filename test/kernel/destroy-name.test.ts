// tsnet destroy --name against the real kernel: a topology on this machine and a netns host
// (with NAT in the lab's nftables) is applied from a copy of its file, the copy is deleted,
// and destroy --name removes it: the lab's full dump is then identical to the one before the
// apply, with another topology and a foreign namespace untouched. Once with the record of the
// last apply (its hosts), once without (this machine, and the netns host found by its marks).
// The same approval rule as destroy; the same refusal of a namespace holding an interface tsnet
// does not own; --json lines. Fixtures: fixtures/destroy-name.yaml (kdn), destroy-name-other.yaml (kdno).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { ipBatch } from '../support/kernel.js';
import { FIXTURES, describeInLab, must, netnsNames, removeAll, tsnet, tsnetOk } from '../support/lab.js';

const FIXTURE = join(FIXTURES, 'destroy-name.yaml');
const OTHER = join(FIXTURES, 'destroy-name-other.yaml');
const HOST_NS = 'kdn-h1';
const FOREIGN = 'kdn-foreign';
const STATE_DIR = process.env.TSNET_STATE_DIR ?? '/run/tsnet';
const RECORD = join(STATE_DIR, 'kdn.applied.json');
const KDN_NAMESPACES = ['kdn-cache', 'kdn-db', 'kdn-quiet', 'kdn-web'];

describeInLab('tsnet destroy --name', () => {
  let dir = '';
  let before: KernelDump;

  /** Applies a copy of the fixture, then deletes the copy: the file is gone. */
  const applyAndLoseFile = async () => {
    const copy = join(dir, 'kdn.yaml');
    copyFileSync(FIXTURE, copy);
    await tsnetOk('apply', '--auto-approve', '-q', copy);
    rmSync(copy);
    expect((await netnsNames()).filter((n) => KDN_NAMESPACES.includes(n))).toEqual(KDN_NAMESPACES);
    return copy;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-destroy-name-'));
    await must(['ip', 'netns', 'add', HOST_NS]);
    await ipBatch(['link set lo up'], HOST_NS);
    await must(['ip', 'netns', 'add', FOREIGN]);
    await ipBatch(['link set lo up', 'link add kdn-fa type veth peer name kdn-fb'], FOREIGN);
    await tsnetOk('apply', '--auto-approve', '-q', OTHER);
    before = await quietDump();
  });
  afterAll(async () => {
    await tsnet('destroy', '--name', 'kdn', '--auto-approve', '-q');
    await tsnet('destroy', '--auto-approve', '-q', OTHER);
    await removeAll({ netns: [HOST_NS, FOREIGN, ...KDN_NAMESPACES] });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('with the record: asks like destroy (no terminal, no --auto-approve: refused, nothing changed), then removes exactly what the apply made', async () => {
    const copy = await applyAndLoseFile();
    const applied = await quietDump();
    const refused = await tsnet('destroy', '--name', 'kdn');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`Note: Hosts from the record of the last apply of "kdn" (`);
    expect(refused.stdout).toContain(`from ${copy}): here (local), h1 (netns kdn-h1).`);
    expect(refused.stdout).toContain('- sandbox.web');
    expect(refused.stdout).toContain('- nat.front');
    expect(refused.stderr).toContain('there is no terminal to ask on');
    expect(await settledDump(applied)).toEqual(applied);

    const res = await tsnet('destroy', '--name', 'kdn', '--auto-approve');
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toMatch(/Host h1 \(netns kdn-h1\):\n(.*\n)*\s+- sandbox\.db /);
    expect(res.stdout).toContain('Destroy complete! Resources: 20 destroyed.');
    expect(await settledDump(before)).toEqual(before);
    expect(existsSync(RECORD), 'the record goes with the topology').toBe(false);
  });

  it('without the record: this machine and the netns host found by its marks; the same result', async () => {
    await applyAndLoseFile();
    rmSync(RECORD);
    const res = await tsnet('destroy', '--name', 'kdn', '--auto-approve');
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toContain(`Note: No record of the last apply of "kdn" (${RECORD}).`);
    expect(res.stdout).toContain('Note: Only this machine was read: its own stack and the namespace standing for hosts that hold the topology\'s objects (kdn-h1).');
    expect(res.stdout).toContain('Destroy complete! Resources: 20 destroyed.');
    expect(await settledDump(before)).toEqual(before);
  });

  it('a namespace holding an interface tsnet does not own is refused, as destroy refuses it; --json', async () => {
    await applyAndLoseFile();
    await ipBatch(['link add kdn-x0 type veth peer name kdn-x1'], 'kdn-db');
    const held = await quietDump();
    const res = await tsnet('destroy', '--name', 'kdn', '--auto-approve', '--json');
    expect(res.code).toBe(1);
    const lines = res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; format_version: string; ok?: boolean; errors?: { address: string; message: string }[] });
    expect(lines.map((l) => l.type)).toEqual(['plan', 'result']);
    expect(lines[1]!.ok).toBe(false);
    expect(lines[1]!.errors).toEqual([{ host: 'h1', address: 'sandbox.db', message: expect.stringMatching(/^cannot delete namespace "kdn-db": interfaces tsnet does not own are in it: .*kdn-x0 \(veth, not made by tsnet\)/) }]);
    expect(await settledDump(held)).toEqual(held);

    await ipBatch(['link del kdn-x0'], 'kdn-db');
    const ok = await tsnet('destroy', '--name', 'kdn', '--auto-approve', '--json');
    expect(ok.code, ok.all).toBe(0);
    const result = JSON.parse(ok.stdout.trim().split('\n').at(-1)!) as { type: string; ok: boolean; summary: { destroy: number } };
    expect(result).toMatchObject({ type: 'result', ok: true, summary: { destroy: 20 } });
    expect(await settledDump(before)).toEqual(before);
  });

  it('a name nothing carries: nothing to destroy; a bad name, or a file with --name: exit 1', async () => {
    const none = await tsnet('destroy', '--name', 'kdn', '--auto-approve');
    expect(none.code, none.all).toBe(0);
    expect(none.stdout).toContain('Nothing to destroy: kdn owns nothing on the kernel.');
    const bad = await tsnet('destroy', '--name', 'Not_A_Name');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--name: "Not_A_Name" is not a topology name');
    const both = await tsnet('destroy', '--name', 'kdn', OTHER);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('give a topology file or --name NAME, not both');
    const neither = await tsnet('destroy');
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('--name NAME when the file is gone');
    expect(await settledDump(before)).toEqual(before);
  });
});
