// tsnet check across hosts: two netns hosts joined by VXLAN overlays (probes and listeners in
// sandboxes on either host and in a host's own stack, another VNI blocked, the VXLAN device taken
// down by hand failing the reach checks across it), and an ssh host (a real sshd in the lab,
// test/support/sshd.ts): the probe programs found over ssh once, every sandbox mode, listeners
// started and stopped over ssh, nothing left behind, a link taken down by hand failing checks.
// Fixtures: fixtures/check-netns.yaml (kckn), check-ssh.yaml (kcks).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectTools } from '../../src/check/tools.js';
import { SshRunner } from '../../src/state/ssh.js';
import { checkSchemaErrors } from '../support/check-json.js';
import { makeUnderlay, type Underlay } from '../support/hosts.js';
import { FIXTURES, ROOT, describeInLab, eventually, labProcesses, must, removeAll, run, start, type Ran } from '../support/lab.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const BIN = join(ROOT, 'bin', 'tsnet.js');
const NETNS = join(FIXTURES, 'check-netns.yaml');
const SSH = join(FIXTURES, 'check-ssh.yaml');
const SSH_ADDRESS = '198.19.41.2';

const tx = (env: Record<string, string>, ...args: string[]): Promise<Ran> => run(['node', BIN, ...args], { env: { NO_COLOR: '1', ...env } });

/** "ok|FAIL from -> to what expected: got" of each table row. */
const rows = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((l) => /^(ok|FAIL) /.test(l))
    .map((l) => {
      const [status, from, to, what, expected, got] = l.split(/ {2,}/);
      return `${status} ${from} -> ${to} ${what} ${expected}: ${got}`;
    });

/**
 * Processes running tsnet's listener script, or an ssh client carrying it, on this machine (an
 * ssh host in the lab is this machine too).
 */
function listenerProcesses(): number[] {
  return labProcesses((c) => c.includes('const [proto, port, life, ...addrs]'));
}

describeInLab('tsnet check on netns and ssh hosts', () => {
  describe('two netns hosts and VXLAN overlays', () => {
    let underlay: Underlay | undefined;
    const none = {};
    beforeAll(async () => {
      await removeAll({ netns: ['kckn-h1', 'kckn-h2', 'kckn-a', 'kckn-b', 'kckn-c', 'kckn-d'], links: ['kckn-ul'] });
      underlay = await makeUnderlay('kckn-ul', [
        { name: 'h1', netns: 'kckn-h1', underlay: '198.19.40.1' },
        { name: 'h2', netns: 'kckn-h2', underlay: '198.19.40.2' },
      ]);
      const res = await tx(none, 'apply', '--auto-approve', '-q', NETNS);
      expect(res.code, res.all).toBe(0);
    });
    afterAll(async () => {
      await tx(none, 'destroy', '--auto-approve', '-q', NETNS);
      await underlay?.remove();
      await removeAll({ netns: ['kckn-a', 'kckn-b', 'kckn-c', 'kckn-d'] });
    });

    it('every check passes: probes and listeners on either host, in sandboxes and in a host\'s own stack', async () => {
      const res = await tx(none, 'check', NETNS);
      expect(res.code, res.all).toBe(0);
      expect(rows(res.stdout)).toEqual([
        'ok a -> b (198.18.144.20) icmp reach: reply',
        'ok a -> b (198.18.144.20) tcp/5432 reach: tcp connected (tsnet listener)',
        'ok b -> a (198.18.144.10) udp/53 reach: udp answered (tsnet listener)',
        'ok a -> c (198.18.145.20) icmp blocked: unreachable (no route)',
        'ok d -> c (198.18.145.20) icmp reach: reply',
        'ok hst -> 198.19.40.1 icmp reach: reply',
        'ok hst -> 198.19.40.1 tcp/2222 reach: tcp connected (tsnet listener)',
      ]);
      expect(res.stdout).toContain('Listened on tcp/5432 on 198.18.144.20 (namespace kckn-b on host h2) for the checks; stopped after.');
      expect(res.stdout).toContain('Listened on tcp/2222 on 198.19.40.1 (the host\'s own stack on host h1) for the checks; stopped after.');
      expect(res.stdout).toMatch(/Checks: 7 passed, 0 failed\.$/);
      expect(listenerProcesses()).toEqual([]);
      const json = JSON.parse((await tx(none, 'check', '--json', NETNS)).stdout) as { results: { from: string; host: string }[] };
      expect(checkSchemaErrors(json)).toEqual([]);
      expect(json.results.map((r) => `${r.from}@${r.host}`)).toEqual(['a@h1', 'a@h1', 'b@h2', 'a@h1', 'd@h1', 'hst@h2', 'hst@h2']);
    });

    it('the VXLAN device taken down by hand on h2: the checks across it fail, the others pass', async () => {
      await must(['ip', 'link', 'set', 'tsx-ckov', 'down'], { ns: 'kckn-h2' });
      const res = await tx(none, 'check', NETNS);
      expect(res.code, res.all).toBe(1);
      expect(res.stderr).toContain('tsnet: warning: the kernel differs from');
      expect(rows(res.stdout).filter((r) => r.startsWith('FAIL'))).toEqual([
        'FAIL a -> b (198.18.144.20) icmp reach: no reply',
        'FAIL a -> b (198.18.144.20) tcp/5432 reach: tcp timeout (tsnet listener)',
        'FAIL b -> a (198.18.144.10) udp/53 reach: udp no answer (tsnet listener)',
      ]);
      expect(res.stdout).toMatch(/Checks: 4 passed, 3 failed\.$/);
      expect((await tx(none, 'apply', '--auto-approve', '--check', '-q', NETNS)).code).toBe(0);
    });
  });

  describe('an ssh host', () => {
    let sshd: Sshd | undefined;
    const env = () => sshd!.env;
    const controlDirs = () => readdirSync(sshd!.dir).filter((f) => f.startsWith('tsnet-ssh-'));
    beforeAll(async () => {
      await removeAll({ netns: ['kcks-s', 'kcks-t', 'kcks-quiet'] });
      sshd = await startSshd({ ns: 'kcks-remote', labLink: 'kcks-up0', address: SSH_ADDRESS });
      const res = await tx(env(), 'apply', '--auto-approve', '-q', SSH);
      expect(res.code, res.all).toBe(0);
    });
    afterAll(async () => {
      if (sshd) {
        await tx(env(), 'destroy', '--auto-approve', '-q', SSH);
        await sshd.stop();
      }
      await removeAll({ netns: ['kcks-s', 'kcks-t', 'kcks-quiet'] });
    });

    it('finds the probe programs the host has (node here, as on the machine ssh reaches)', async () => {
      process.env.TSNET_SSH_CONFIG = env().TSNET_SSH_CONFIG;
      const runner = new SshRunner('far', SSH_ADDRESS);
      try {
        const tools = await detectTools(runner);
        expect(tools.client?.kind).toBe('node');
        expect(tools.client?.path).toMatch(/\/node(js)?$/);
        expect(tools.ping).toMatch(/\/ping$/);
      } finally {
        await runner.close();
        delete process.env.TSNET_SSH_CONFIG;
      }
    });

    it('every check passes, probes and listeners running over ssh; the host asked once for its programs; nothing is left behind', async () => {
      const trace = join(sshd!.dir, 'trace.txt');
      const res = await run(['node', BIN, 'check', SSH], { env: { NO_COLOR: '1', ...env(), TSNET_TRACE: trace } });
      expect(readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('command -v'))).toHaveLength(1);
      expect(res.code, res.all).toBe(0);
      expect(rows(res.stdout)).toEqual([
        'ok t -> s (198.18.147.10) icmp reach: reply',
        'ok t -> s (2001:db8:147::10) icmp reach: reply',
        'ok t -> s (198.18.147.10) tcp/5432 reach: tcp connected (tsnet listener)',
        'ok t -> s (2001:db8:147::10) tcp/5432 reach: tcp connected (tsnet listener)',
        'ok side -> t (198.18.147.2) udp/53 reach: udp answered (tsnet listener)',
        'ok side -> t (2001:db8:147::2) udp/53 reach: udp answered (tsnet listener)',
        'ok hst -> s.eth0 (198.18.147.10) tcp/80 reach: tcp connected (tsnet listener)',
        'ok hst -> s.eth0 (2001:db8:147::10) tcp/80 reach: tcp connected (tsnet listener)',
        'ok quiet -> s (198.18.147.10) icmp blocked: unreachable (no route)',
        'ok quiet -> s (2001:db8:147::10) icmp blocked: unreachable (no route)',
        'ok hst -> 198.18.147.1 icmp reach: reply',
        'ok t -> 198.18.147.99 icmp blocked: no reply',
      ]);
      expect(res.stdout).toContain('Listened on tcp/5432 on 198.18.147.10 (namespace kcks-s on host far) for the checks; stopped after.');
      expect(res.stdout).toMatch(/Checks: 7 passed, 0 failed\.$/);
      expect(listenerProcesses()).toEqual([]);
      expect(controlDirs()).toEqual([]);
    });

    it('s\'s link taken down by hand: the checks to it fail, the blocked one still passes', async () => {
      await must(['ip', 'link', 'set', 'eth0', 'down'], { ns: 'kcks-s' });
      const res = await tx(env(), 'check', '--json', SSH);
      expect(res.code, res.all).toBe(1);
      const doc = JSON.parse(res.stdout) as { ok: boolean; results: { check: number; ok: boolean; host: string }[]; drift: { address: string }[] };
      expect(checkSchemaErrors(doc)).toEqual([]);
      expect([...new Set(doc.results.filter((r) => !r.ok).map((r) => r.check))]).toEqual([1, 2, 3, 4]);
      expect(doc.results.every((r) => r.host === 'far')).toBe(true);
      expect(doc.drift.map((d) => d.address)).toContain('endpoint.s.eth0');
      expect(listenerProcesses()).toEqual([]);
      const back = await tx(env(), 'apply', '--auto-approve', '--check', '-q', SSH);
      expect(back.code, back.all).toBe(0);
      expect(back.stdout).toContain('Checks: 7 passed, 0 failed.');
      expect(controlDirs()).toEqual([]);
    });

    it('SIGTERM while the probes run: no listener is left on the ssh host, nor an ssh client running one', async () => {
      const running = start(['node', BIN, 'check', SSH], { env: { NO_COLOR: '1', ...env() } });
      try {
        await eventually(() => expect(listenerProcesses().length).toBeGreaterThan(0), 30_000);
        running.kill('SIGTERM');
        const res = await running.done;
        expect(res.signal).toBe('SIGTERM');
        await eventually(() => expect(listenerProcesses()).toEqual([]), 5000);
      } finally {
        running.kill('SIGKILL');
      }
    });
  });
});
