// Names between sandboxes against the real kernel: tsnet writes a hosts file per set of networks
// under /etc/netns/.tsnet/knm/, links /etc/netns/<ns>/hosts to it (and writes resolv.conf from
// dns:), which `ip netns exec` and `tsnet exec` mount over /etc (the mount follows the link).
// Per-network visibility, a container: sandbox's name, drift (an edited shared file, a re-pointed
// link) repaired, a foreign file refused, a failed apply's rollback restoring the files and links
// exactly, destroy leaving /etc/netns as it was. One apply serves them all. What the files say is unit-tested (src/appliers/names.test.ts); the files
// written over ssh and on netns hosts by ssh.test.ts and overlay.test.ts (their plans and
// re-plans include the hosts files; ssh.test resolves a name there).
// /etc/netns is the lab's private tmpfs (scripts/lab).
// Fixtures: fixtures/names.yaml (knm), names-more.yaml, names-foreign.yaml (knf).
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync, appendFileSync, mkdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor, type Runner, type RunOptions, type RunResult } from '../../src/state/runner.js';
import type { Host } from '../../src/model/types.js';
import type { FileAccess } from '../../src/state/files.js';
import { parseOpLine } from '../../src/executor/tools/file.js';
import { FIXTURES, describeInLab, planChanges, removeAll, run, tsnet, type Ran } from '../support/lab.js';

const INJECTED = 'injected-failure /etc/netns/x/hosts x';

const FILE = join(FIXTURES, 'names.yaml');
const MORE = join(FIXTURES, 'names-more.yaml');
const FOREIGN = join(FIXTURES, 'names-foreign.yaml');

/**
 * Every file under /etc/netns of this file's namespaces (knm-, knf-) and of its topologies'
 * shared directories with its content (a link as "-> target"): other kernel test files running
 * at the same time write their own there.
 */
function etcNetns(): Record<string, string> {
  const out: Record<string, string> = {};
  const dirs = readdirSync('/etc/netns').filter((d) => /^kn[mf]-/.test(d));
  for (const t of ['knm', 'knf']) if (existsSync(`/etc/netns/.tsnet/${t}`)) dirs.push(`.tsnet/${t}`);
  for (const dir of dirs) {
    out[`${dir}/`] = '';
    for (const f of readdirSync(`/etc/netns/${dir}`)) {
      const at = `/etc/netns/${dir}/${f}`;
      out[`${dir}/${f}`] = lstatSync(at).isSymbolicLink() ? `-> ${readlinkSync(at)}` : readFileSync(at, 'utf8');
    }
  }
  return out;
}

/** The key of the shared file a sandbox's hosts link points to. */
const keyOf = (ns: string): string => readlinkSync(`/etc/netns/${ns}/hosts`).replace(/^.*\//, '').replace('.hosts', '');

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
    return inner && { read: (paths) => inner.read(paths), apply: (ops, mode) => inner.apply(mode === 'stop' ? [ops[0]!, parseOpLine(INJECTED), ...ops.slice(1)] : ops, mode) };
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
    // Only after a test that failed half way: the last one destroys, the foreign apply makes nothing.
    if (existsSync('/run/netns/knm-a')) await tsnet('destroy', '--auto-approve', '-q', FILE);
    if (existsSync('/run/netns/knf-x')) await tsnet('destroy', '--auto-approve', '-q', FOREIGN);
    rmSync('/etc/netns/knf-x', { recursive: true, force: true });
    await removeAll({ netns: ['knm-a', 'knm-b', 'knm-c', 'knm-d', 'knf-x'] });
  });

  it('a sandbox resolves the sandboxes it shares a network with, by name and name.topology, and no other (ip netns exec)', async () => {
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
    // A program resolving as usual (not getent's files only) reaches b by name.
    const ping = await run(['ip', 'netns', 'exec', 'knm-c', 'ping', '-4', '-c1', '-W2', 'b']);
    expect(ping.stdout, ping.stderr).toContain('64 bytes from b (198.18.95.3)');
    const resolv = readFileSync('/etc/netns/knm-a/resolv.conf', 'utf8').split('\n');
    expect(resolv[0]).toBe('# tsnet:knm:resolv.a - managed by tsnet, edits are replaced');
    expect(resolv.filter((l) => l && !l.startsWith('#'))).toEqual(['nameserver 198.18.94.53', 'search lab.example']);
    // No file for the host sandbox, none for side: only the three namespaces tsnet made, each
    // hosts a link to its set of networks' shared file (a, b, c: each on other networks).
    expect(readdirSync('/etc/netns').filter((d) => d.startsWith('knm-')).sort()).toEqual(['knm-a', 'knm-b', 'knm-c']);
    expect(readdirSync('/etc/netns/knm-b').sort()).toEqual(['hosts']);
    for (const ns of ['knm-a', 'knm-b', 'knm-c']) expect(readlinkSync(`/etc/netns/${ns}/hosts`)).toMatch(/^\.\.\/\.tsnet\/knm\/[0-9a-f]{8}\.hosts$/);
    expect(readdirSync('/etc/netns/.tsnet/knm').sort()).toEqual(['knm-a', 'knm-b', 'knm-c'].map((ns) => `${keyOf(ns)}.hosts`).sort());
    expect(readFileSync(`/etc/netns/.tsnet/knm/${keyOf('knm-a')}.hosts`, 'utf8').split('\n')[0]).toBe(`# tsnet:knm:hostsfile.${keyOf('knm-a')} - managed by tsnet, edits are replaced`);
  });

  it('through tsnet exec too: each sandbox its own files, a container: sandbox its target\'s', async () => {
    const res = await tsnet('exec', FILE, 'a', 'c', 'side', '--json', '--', 'getent', '-s', 'files', 'ahostsv4', 'b');
    ok(res);
    const results = (JSON.parse(res.stdout) as { results: { sandbox: string; exit_code: number; stdout: string }[] }).results;
    const first = Object.fromEntries(results.map((r) => [r.sandbox, r.exit_code === 0 ? r.stdout.split(/\s+/)[0] : null]));
    expect(first).toEqual({ a: '198.18.94.3', c: '198.18.95.3', side: '198.18.94.3' });
  });

  it('drift: an edited shared file and a link re-pointed to another of tsnet\'s files, planned as ~ hostsfile.<key> and ~ hosts.<sandbox> and repaired', async () => {
    const good = etcNetns();
    const [a, b] = [keyOf('knm-a'), keyOf('knm-b')];
    appendFileSync('/etc/netns/knm-a/hosts', '198.18.94.99\tb\n'); // through the link: a's shared file
    unlinkSync('/etc/netns/knm-c/hosts');
    symlinkSync(`../.tsnet/knm/${b}.hosts`, '/etc/netns/knm-c/hosts');
    const apply = await tsnet('apply', '--auto-approve', FILE);
    ok(apply);
    expect(planChanges(apply.stdout)).toEqual([`~ hostsfile.${a}`, '~ hosts.c']);
    expect(etcNetns()).toEqual(good);
  });

  it('a failed apply writes back exactly what was there (and the namespaces it made go)', async () => {
    const files = etcNetns();
    const s = await planSession(MORE, 'apply', { runnerFactory: (h: Host) => new FailingFiles(runnerFor(h)) });
    try {
      // d joins n1: a's shared file (d shares it) and b's change, d's link is made; c's stays.
      expect(planChanges(s.plan.changes.filter((c) => c.kind !== 'endpoint' && c.kind !== 'route').map((c) => `  ${c.action === 'create' ? '+' : '~'} ${c.address}`).join('\n')).sort()).toEqual(
        ['+ hosts.d', '+ sandbox.d', `~ hostsfile.${keyOf('knm-a')}`, `~ hostsfile.${keyOf('knm-b')}`].sort(),
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
  });

  it('a file tsnet did not write is a plan error naming it; nothing is made and the file is untouched', async () => {
    mkdirSync('/etc/netns/knf-x');
    writeFileSync('/etc/netns/knf-x/hosts', '198.18.96.7 mine\n');
    const apply = await tsnet('apply', '--auto-approve', FOREIGN);
    expect(apply.code).toBe(1);
    expect(apply.all).toContain('cannot link /etc/netns/knf-x/hosts: a file tsnet did not write is there');
    expect(readFileSync('/etc/netns/knf-x/hosts', 'utf8')).toBe('198.18.96.7 mine\n');
    expect(existsSync('/run/netns/knf-x')).toBe(false);
    rmSync('/etc/netns/knf-x', { recursive: true });
  });

  it('destroy removes the links, the shared files and the directories tsnet made: /etc/netns is as before', async () => {
    mkdirSync('/etc/netns/knm-c', { recursive: true }); // there already: made by hand, not by tsnet
    writeFileSync('/etc/netns/knm-c/keep', 'mine\n');
    ok(await tsnet('destroy', '--auto-approve', '-q', FILE));
    expect(etcNetns()).toEqual({ ...before, 'knm-c/': '', 'knm-c/keep': 'mine\n' });
    rmSync('/etc/netns/knm-c', { recursive: true });
    expect(etcNetns()).toEqual(before);
    expect(existsSync('/etc/netns/.tsnet/knm')).toBe(false);
  });
});
