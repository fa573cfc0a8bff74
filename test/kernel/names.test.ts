// Names between sandboxes against the real kernel: tsnet writes /etc/netns/<ns>/hosts (and
// resolv.conf from dns:), which `ip netns exec` and `tsnet exec` mount over /etc. Per network
// visibility, a container: sandbox's name, drift repaired, a foreign file refused, a failed
// apply's rollback restoring the files exactly, destroy leaving /etc/netns as it was; on this
// machine, a netns host and an ssh host. /etc/netns is the lab's private tmpfs (scripts/lab).
// Fixtures: fixtures/names.yaml (knm), names-more.yaml, names-foreign.yaml (knf), names-hosts.yaml (knh).
import { existsSync, readdirSync, readFileSync, writeFileSync, appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor, type Runner, type RunOptions, type RunResult } from '../../src/state/runner.js';
import type { Host } from '../../src/model/types.js';
import type { FileAccess } from '../../src/state/files.js';

const INJECTED = 'injected-failure /etc/netns/x/hosts x';
import { FIXTURES, ROOT, describeInLab, must, planChanges, removeAll, run, tsnet, type Ran } from '../support/lab.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const FILE = join(FIXTURES, 'names.yaml');
const MORE = join(FIXTURES, 'names-more.yaml');
const FOREIGN = join(FIXTURES, 'names-foreign.yaml');
const NETNS_HOST = join(FIXTURES, 'names-hosts.yaml');
const SSH = join(FIXTURES, 'names-ssh.yaml');
const BIN = join(ROOT, 'bin', 'tsnet.js');

/**
 * Every file under /etc/netns of this file's namespaces (knm-, knf-) with its content: other
 * kernel test files running at the same time write their own there.
 */
function etcNetns(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dir of readdirSync('/etc/netns').filter((d) => /^kn[mf]-/.test(d))) {
    out[`${dir}/`] = '';
    for (const f of readdirSync(`/etc/netns/${dir}`)) out[`${dir}/${f}`] = readFileSync(`/etc/netns/${dir}/${f}`, 'utf8');
  }
  return out;
}

/**
 * `getent ahostsv4 NAME` in a namespace through ip netns exec, from the hosts file only (a's
 * resolv.conf names a server that is not there): the first address, or null when it does not resolve.
 */
async function resolve(ns: string, name: string): Promise<string | null> {
  const res = await run(['ip', 'netns', 'exec', ns, 'getent', '-s', 'files', 'ahostsv4', name]);
  return res.code === 0 ? res.stdout.trim().split(/\s+/)[0]! : null;
}

const ok = (r: Ran) => expect(r.code, r.all).toBe(0);

/** A runner whose file batches fail for real at their second line (an operation the file tool refuses). */
class FailingFiles implements Runner {
  constructor(private readonly inner: Runner) {}
  get host() { return this.inner.host; }
  get machine() { return this.inner.machine; }
  get describe() { return this.inner.describe; }
  get files(): FileAccess | undefined {
    const inner = this.inner.files;
    return inner && { read: (paths) => inner.read(paths), apply: (lines, mode) => inner.apply(mode === 'stop' ? [lines[0]!, INJECTED, ...lines.slice(1)] : lines, mode) };
  }
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.inner.run(argv, opts);
  }
  listNetns() { return this.inner.listNetns(); }
  close() { return this.inner.close(); }
}

describeInLab('names files (/etc/netns/<ns>/hosts, resolv.conf)', () => {
  let before: Record<string, string>;
  beforeAll(async () => {
    before = etcNetns();
    ok(await tsnet('apply', '--auto-approve', '-q', FILE));
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await tsnet('destroy', '--auto-approve', '-q', FOREIGN);
    rmSync('/etc/netns/knf-x', { recursive: true, force: true });
    await removeAll({ netns: ['knm-a', 'knm-b', 'knm-c', 'knm-d', 'knf-x'] });
  });

  it('a sandbox resolves the sandboxes it shares a network with, by name and name.topology, and no other', async () => {
    expect(await resolve('knm-a', 'b')).toBe('198.18.94.3');
    expect(await resolve('knm-a', 'b.knm')).toBe('198.18.94.3');
    expect(await resolve('knm-a', 'side')).toBe('198.18.94.3'); // container:b answers with b's address
    expect(await resolve('knm-a', 'a')).toBe('198.18.94.2');
    expect(await resolve('knm-c', 'b')).toBe('198.18.95.3'); // on n2, b's n2 address
    expect(await resolve('knm-a', 'c')).toBeNull(); // no network shared
    expect(await resolve('knm-c', 'a')).toBeNull();
    const v6 = await run(['ip', 'netns', 'exec', 'knm-c', 'getent', '-s', 'files', 'ahostsv6', 'b']);
    expect(v6.stdout).toContain('2001:db8:95::3');
    expect(await resolve('knm-a', 'localhost')).toBe('127.0.0.1');
  });

  it('through tsnet exec too (a container: sandbox reads its target\'s files), and resolv.conf from dns:', async () => {
    const ping = await tsnet('exec', FILE, 'c', '--', 'ping', '-4', '-c1', '-W2', 'b');
    ok(ping);
    expect(ping.stdout).toContain('64 bytes from b (198.18.95.3)');
    const side = await tsnet('exec', FILE, 'side', '--', 'getent', '-s', 'files', 'hosts', 'a');
    ok(side);
    expect(side.stdout).toMatch(/^198\.18\.94\.2\s+a a\.knm$/);
    const resolv = await tsnet('exec', FILE, 'a', '--', 'cat', '/etc/resolv.conf');
    ok(resolv);
    expect(resolv.stdout.split('\n')[0]).toBe('# tsnet:knm:resolv.a — managed by tsnet, edits are replaced');
    expect(resolv.stdout.split('\n').filter((l) => !l.startsWith('#'))).toEqual(['nameserver 198.18.94.53', 'search lab.example']);
    // No file for the host sandbox, none for side: only the three namespaces tsnet made.
    expect(readdirSync('/etc/netns').filter((d) => d.startsWith('knm-')).sort()).toEqual(['knm-a', 'knm-b', 'knm-c']);
    expect(readdirSync('/etc/netns/knm-b').sort()).toEqual(['hosts']);
  });

  it('a hand edit is drift: planned as ~ hosts.a and repaired', async () => {
    const good = readFileSync('/etc/netns/knm-a/hosts', 'utf8');
    appendFileSync('/etc/netns/knm-a/hosts', '198.18.94.99\tb\n');
    const plan = await tsnet('plan', FILE);
    expect(planChanges(plan.stdout)).toEqual(['~ hosts.a']);
    ok(await tsnet('apply', '--auto-approve', '-q', FILE));
    expect(readFileSync('/etc/netns/knm-a/hosts', 'utf8')).toBe(good);
    ok(await tsnet('plan', '--detailed-exitcode', FILE));
  });

  it('a failed apply writes back exactly what was there (and the namespaces it made go)', async () => {
    const files = etcNetns();
    const s = await planSession(MORE, 'apply', { runnerFactory: (h: Host) => new FailingFiles(runnerFor(h)) });
    try {
      expect(planChanges(s.plan.changes.map((c) => `  ${c.action === 'create' ? '+' : '~'} ${c.address}`).join('\n'))).toEqual(
        expect.arrayContaining(['~ hosts.a', '~ hosts.b', '+ hosts.d', '+ sandbox.d']),
      );
      const out = await applySession(s, { journal: false });
      expect(out.result.ok).toBe(false);
      expect(out.result.failure?.error).toContain('unknown operation injected-failure');
      expect(out.rollbackDiff).toEqual([]);
    } finally {
      await closeRunners(s.runners);
    }
    expect(etcNetns()).toEqual(files);
    expect(existsSync('/run/netns/knm-d')).toBe(false);
    ok(await tsnet('plan', '--detailed-exitcode', FILE));
  });

  it('a file tsnet did not write is a plan error naming it; nothing is made and the file is untouched', async () => {
    mkdirSync('/etc/netns/knf-x');
    writeFileSync('/etc/netns/knf-x/hosts', '198.18.96.7 mine\n');
    const plan = await tsnet('plan', FOREIGN);
    expect(plan.code).toBe(1);
    expect(plan.all).toContain('cannot write /etc/netns/knf-x/hosts: a file tsnet did not write is there');
    const apply = await tsnet('apply', '--auto-approve', FOREIGN);
    expect(apply.code).toBe(1);
    expect(readFileSync('/etc/netns/knf-x/hosts', 'utf8')).toBe('198.18.96.7 mine\n');
    expect(existsSync('/run/netns/knf-x')).toBe(false);
    rmSync('/etc/netns/knf-x', { recursive: true });
  });

  it('destroy removes the files and the directories tsnet made: /etc/netns is as before', async () => {
    mkdirSync('/etc/netns/knm-c', { recursive: true }); // there already: made by hand, not by tsnet
    writeFileSync('/etc/netns/knm-c/keep', 'mine\n');
    ok(await tsnet('destroy', '--auto-approve', '-q', FILE));
    expect(etcNetns()).toEqual({ ...before, 'knm-c/': '', 'knm-c/keep': 'mine\n' });
    rmSync('/etc/netns/knm-c', { recursive: true });
    expect(etcNetns()).toEqual(before);
  });
});

describeInLab('names files on a netns host and an ssh host', () => {
  let sshd: Sshd | undefined;
  const tx = (...args: string[]) => run(['node', BIN, ...args], { env: { NO_COLOR: '1', ...(sshd?.env ?? {}) } });
  beforeAll(async () => {
    await must(['ip', 'netns', 'add', 'knh-h1']);
    sshd = await startSshd({ ns: 'kns-remote', labLink: 'kns-up0', address: '198.19.22.2' });
    ok(await tx('apply', '--auto-approve', '-q', NETNS_HOST));
    ok(await tx('apply', '--auto-approve', '-q', SSH));
  });
  afterAll(async () => {
    await tx('destroy', '--auto-approve', '-q', NETNS_HOST);
    if (sshd) {
      await tx('destroy', '--auto-approve', '-q', SSH);
      await sshd.stop();
    }
    await removeAll({ netns: ['knh-h1', 'knh-p', 'knh-q', 'knh-lone', 'kns-r', 'kns-s'] });
  });

  it("writes them through each host's runner; names resolve there", async () => {
    expect(readdirSync('/etc/netns').filter((d) => /^kn[hs]-/.test(d)).sort()).toEqual(['knh-lone', 'knh-p', 'knh-q', 'kns-r', 'kns-s']);
    const q = await tx('exec', NETNS_HOST, 'p', '--', 'getent', 'hosts', 'q');
    ok(q);
    expect(q.stdout).toMatch(/^198\.18\.97\.3\s+q q\.knh$/);
    expect((await tx('exec', NETNS_HOST, 'lone', '--', 'getent', '-s', 'files', 'hosts', 'q')).code).toBe(2);
    const s = await tx('exec', SSH, 'r', '--', 'getent', 'hosts', 's.kns');
    ok(s);
    expect(s.stdout).toMatch(/^198\.18\.98\.3\s+s s\.kns$/);
    expect(readFileSync('/etc/netns/kns-s/resolv.conf', 'utf8')).toContain('nameserver 198.18.98.53\n');
  });

  it('drift is repaired on both, and destroy removes them', async () => {
    appendFileSync('/etc/netns/kns-r/hosts', '# edited\n');
    appendFileSync('/etc/netns/knh-q/hosts', '# edited\n');
    expect(planChanges((await tx('plan', SSH)).stdout)).toEqual(['~ hosts.r']);
    expect(planChanges((await tx('plan', NETNS_HOST)).stdout)).toEqual(['~ hosts.q']);
    ok(await tx('apply', '--auto-approve', '-q', SSH));
    ok(await tx('apply', '--auto-approve', '-q', NETNS_HOST));
    expect(readFileSync('/etc/netns/kns-r/hosts', 'utf8')).not.toContain('# edited');
    expect(readFileSync('/etc/netns/knh-q/hosts', 'utf8')).not.toContain('# edited');
    ok(await tx('destroy', '--auto-approve', '-q', SSH));
    ok(await tx('destroy', '--auto-approve', '-q', NETNS_HOST));
    expect(readdirSync('/etc/netns').filter((d) => /^kn[hs]-/.test(d))).toEqual([]);
  });
});
