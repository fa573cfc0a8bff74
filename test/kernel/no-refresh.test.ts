// --no-refresh: namespaces come from the state the last apply verified (src/state/cache.ts)
// instead of being read again. Shown here: an added sandbox is built without entering the
// others; a namespace deleted or remade by hand is read afresh (its inode changed), so a
// foreign namespace under a cached name is still refused (even with a reused inode number); drift inside an unchanged namespace
// is not seen with --no-refresh and is seen by a full plan.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInLab, must, removeAll, run, tsnet, tsnetOk } from '../support/lab.js';

const dir = join(tmpdir(), `tsnet-norefresh-${process.pid}`);
const base = (extra: string) => `version: 1
name: norefresh
networks:
  nr: {driver: bridge, subnet: 198.18.95.0/24}
sandboxes:
  a: {endpoints: [{network: nr}]}
  b: {endpoints: [{network: nr}]}
${extra}`;
const FILE = join(dir, 'two.yaml');
const PLUS = join(dir, 'three.yaml');
const NETNS = ['norefresh-a', 'norefresh-b', 'norefresh-c'];

describeInLab('--no-refresh', () => {
  beforeAll(async () => {
    await must(['mkdir', '-p', dir]);
    writeFileSync(FILE, base(''));
    writeFileSync(PLUS, base('  c: {endpoints: [{network: nr}]}\n'));
    await removeAll({ netns: NETNS, links: ['tsn-nr'] });
    await tsnetOk('apply', '--auto-approve', '-q', FILE);
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', PLUS);
    await removeAll({ netns: [...NETNS, 'nr-foreign'], links: ['tsn-nr'] });
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a sandbox without entering the others, and the result is what a full plan expects', async () => {
    const trace = join(dir, 'trace');
    const res = await run(['node', 'bin/tsnet.js', 'apply', '--auto-approve', '--no-refresh', PLUS], { env: { TSNET_TRACE: trace, NO_COLOR: '1' } });
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toContain('--no-refresh: 2 namespaces were taken from the state the last apply verified');
    const started = readFileSync(trace, 'utf8').trim().split('\n');
    // The host's stack read, its batch, and the new sandbox's batch: nothing in a or b.
    expect(started.join('\n')).not.toMatch(/norefresh-[ab]/);
    expect(started.some((l) => l.includes('norefresh-c'))).toBe(true);
    expect((await tsnet('plan', PLUS)).stdout).toContain('No changes.');
  });

  it('does not see drift inside an unchanged namespace; a full plan does', async () => {
    await must(['ip', 'link', 'set', 'eth0', 'mtu', '1400'], { ns: 'norefresh-b' });
    expect((await tsnet('plan', '--no-refresh', PLUS)).stdout).toContain('No changes.');
    const full = await tsnet('plan', PLUS);
    expect(full.stdout).toContain('~ endpoint.b.eth0');
    expect(full.stdout).toContain('mtu 1400 -> 1500');
    await tsnetOk('apply', '--auto-approve', '-q', PLUS);
  });

  it('reads a namespace deleted by hand afresh: it is rebuilt', async () => {
    await must(['ip', 'netns', 'del', 'norefresh-a']);
    const plan = await tsnet('plan', '--no-refresh', PLUS);
    expect(plan.stdout).toContain('+ sandbox.a');
    await tsnetOk('apply', '--auto-approve', '-q', '--no-refresh', PLUS);
    expect((await tsnet('plan', PLUS)).stdout).toContain('No changes.');
  });

  it('never takes a namespace remade by hand under a cached name for its own', async () => {
    // Delete c behind tsnet's back and make a foreign namespace with its name (after the old
    // one is gone, so the kernel may well give it the same inode number): its identity differs
    // from the cached one, so it is read, found unmarked, and refused.
    await must(['ip', 'netns', 'del', 'norefresh-c']);
    await new Promise((r) => setTimeout(r, 300));
    await must(['ip', 'netns', 'add', 'norefresh-c']);
    try {
      const plan = await tsnet('plan', '--no-refresh', PLUS);
      expect(plan.code, plan.all).toBe(1);
      expect(plan.all).toContain('foreign namespace "norefresh-c"');
    } finally {
      await must(['ip', 'netns', 'del', 'norefresh-c']);
    }
    await tsnetOk('apply', '--auto-approve', '-q', PLUS);
  });
});
