// The ssh runner against a real sshd (OpenSSH), started by the test inside the lab: in a
// namespace "sshk-remote" that stands for the remote machine, listening only on 198.19.20.2
// (an address that exists only inside the lab), with a host key and a user key made for the
// test. sshd is entered with nsenter --net (not `ip netns exec`, which would give it a mount
// namespace of its own): the namespaces it makes are then visible to the test.
// Fixtures: test/kernel/fixtures/ssh-*.yaml, topology "sshk".
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteNetns, eventually, ipBatch, link, linkNames, must, netnsList, pings, planChanges, run, tsnet } from '../support/kernel.js';
import { ROOT, describeInLab, start } from '../support/lab.js';
import { SshRunner } from '../../src/state/ssh.js';
import { UNKNOWN_PROGRESS } from '../../src/state/timeout.js';
import { sharedKey } from '../../src/appliers/names-content.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const REMOTE = join(FIXTURES, 'ssh-remote.yaml');
const CLOSED = join(FIXTURES, 'ssh-closed.yaml');
const REMOTE_NS = 'sshk-remote';
const ADDRESS = '198.19.20.2';
const SANDBOXES = ['sshk-s1', 'sshk-s2'];
const BIN = join(ROOT, 'bin', 'tsnet.js');

/** True while the process runs (a zombie waiting for its reaper does not count). */
const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

describeInLab('ssh runner against a real sshd', () => {
  let dir = '';
  /** Environment of every tsnet run: the test's ssh_config, and its own TMPDIR (ssh control dirs). */
  let env: Record<string, string> = {};
  const pidFile = () => join(dir, 'sshd.pid');
  let sshdPid: number | undefined;
  const bashrc = join(userInfo().homedir, '.bashrc');
  let hideRc = false;

  /** Stops the sshd this test started, by its PidFile, and waits until it is gone. */
  const stopSshd = async () => {
    const pid = existsSync(pidFile()) ? Number(readFileSync(pidFile(), 'utf8').trim()) : sshdPid;
    if (pid === undefined || !alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    await eventually(async () => expect(alive(pid), `sshd ${pid} still running`).toBe(false));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-sshk-'));
    for (const key of ['hostkey', 'userkey']) await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `tsnet-test-${key}`, '-f', join(dir, key)]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'userkey.pub')));

    await must(['ip', 'netns', 'add', REMOTE_NS]);
    await ipBatch([`link add sshk-up0 type veth peer name up1 netns ${REMOTE_NS}`, 'addr add 198.19.20.1/24 dev sshk-up0', 'link set sshk-up0 up']);
    await ipBatch(['link set lo up', `addr add ${ADDRESS}/24 dev up1`, 'link set up1 up'], REMOTE_NS);

    const sshdConfig = join(dir, 'sshd_config');
    writeFileSync(
      sshdConfig,
      [
        'Port 22',
        `ListenAddress ${ADDRESS}`,
        `HostKey ${join(dir, 'hostkey')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `PidFile ${pidFile()}`,
        '',
      ].join('\n'),
    );
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory
    await must(['nsenter', `--net=/run/netns/${REMOTE_NS}`, '/usr/sbin/sshd', '-f', sshdConfig, '-E', join(dir, 'sshd.log')]);
    await eventually(async () => expect(existsSync(pidFile()), 'sshd wrote its PidFile').toBe(true));
    sshdPid = Number(readFileSync(pidFile(), 'utf8').trim());
    // bash runs the remote user's ~/.bashrc for every command ssh starts; where it sets up tools
    // (pyenv and the like) that costs seconds per command, i.e. most of this file's time. As in
    // test/support/sshd.ts: an empty file laid over it in the lab's own mount namespace only.
    hideRc = existsSync(bashrc) && (await run(['mount', '--bind', '/dev/null', bashrc])).code === 0;

    const hostKey = readFileSync(join(dir, 'hostkey.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts'), `${ADDRESS} ${hostKey}\n`);
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        'Host sshk-closed',
        `  HostName ${ADDRESS}`,
        '  Port 2222',
        `Host ${ADDRESS} sshk-closed`,
        '  User root',
        `  IdentityFile ${join(dir, 'userkey')}`,
        '  IdentitiesOnly yes',
        '  IdentityAgent none',
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n'),
    );
    env = { TSNET_SSH_CONFIG: sshConfig, TMPDIR: dir };
  });

  afterAll(async () => {
    if (sshdPid !== undefined && alive(sshdPid)) await tsnet(['destroy', '--auto-approve', '-q', REMOTE], env);
    await stopSshd();
    if (hideRc) await run(['umount', bashrc]);
    await deleteNetns([...SANDBOXES, REMOTE_NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** ssh control directories tsnet left in the test's TMPDIR (there must be none). */
  const controlDirs = () => readdirSync(dir).filter((f) => f.startsWith('tsnet-ssh-'));

  it('plan reads the remote host over ssh and lists the whole topology', async () => {
    const res = await tsnet(['plan', REMOTE], env);
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toContain(`Host far (ssh ${ADDRESS}):`);
    expect(planChanges(res.stdout).get('far')?.sort()).toEqual([
      '+ endpoint.s1.eth0',
      '+ endpoint.s2.eth0',
      '+ hosts.s1',
      '+ hosts.s2',
      `+ hostsfile.${sharedKey('far', ['n'])}`,
      '+ network.n',
      '+ route.s1.default',
      '+ route.s2.default',
      '+ sandbox.s1',
      '+ sandbox.s2',
    ]);
    expect(controlDirs()).toEqual([]);
  });

  it('apply builds the topology on the remote host, and a second plan is empty', async () => {
    const res = await tsnet(['apply', '--auto-approve', '-q', REMOTE], env);
    expect(res.code, res.all).toBe(0);
    // The bridge is in the remote host's stack, not in the lab's.
    expect((await link(REMOTE_NS, 'tsn-n')).ifalias).toBe('tsnet:sshk:network.n');
    expect(await linkNames()).not.toContain('tsn-n');
    expect((await netnsList()).filter((n) => n.startsWith('sshk-'))).toEqual([REMOTE_NS, ...SANDBOXES].sort());
    expect(await pings('sshk-s1', '198.18.70.3')).toBe(true);
    // The names files, written by the file tool's script over ssh (the same machine: the lab's /etc/netns).
    // s1's hosts is a link to the shared file of the sandboxes on n, made by the script too.
    expect(readlinkSync('/etc/netns/sshk-s1/hosts')).toBe(`../.tsnet/sshk/${sharedKey('far', ['n'])}.hosts`);
    const s2 = await run(['ip', 'netns', 'exec', 'sshk-s1', 'getent', '-s', 'files', 'ahostsv4', 's2.sshk']);
    expect(s2.stdout.split(/\s+/)[0], s2.stderr).toBe('198.18.70.3');
    // And through tsnet exec on the ssh host (ip netns exec there: the mount follows the link).
    const viaExec = await tsnet(['exec', REMOTE, 's1', '--', 'getent', '-s', 'files', 'ahostsv4', 's2'], env);
    expect(viaExec.stdout.split(/\s+/)[0], viaExec.all).toBe('198.18.70.3');
    const again = await tsnet(['plan', '--detailed-exitcode', REMOTE], env);
    expect(again.code, again.all).toBe(0);
    expect(controlDirs()).toEqual([]);
  });

  it('one ssh connection serves the whole run (ControlMaster), however many commands it runs', async () => {
    const accepted = () => readFileSync(join(dir, 'sshd.log'), 'utf8').split('\n').filter((l) => l.includes('Accepted publickey')).length;
    const before = accepted();
    const traceFile = join(dir, 'trace.txt');
    const res = await tsnet(['plan', REMOTE], { ...env, TSNET_TRACE: traceFile });
    expect(res.code, res.all).toBe(0);
    const commands = readFileSync(traceFile, 'utf8').split('\n').filter((l) => / ssh /.test(` ${l}`)).length;
    expect(commands).toBeGreaterThan(3);
    await eventually(async () => expect(accepted()).toBe(before + 1));
  });

  it("a host key that is not in the user's known_hosts is refused, naming the host", async () => {
    const strict = join(dir, 'ssh_config_empty_known_hosts');
    writeFileSync(join(dir, 'known_hosts_empty'), '');
    writeFileSync(strict, readFileSync(env.TSNET_SSH_CONFIG!, 'utf8').replaceAll(join(dir, 'known_hosts'), join(dir, 'known_hosts_empty')));
    const res = await tsnet(['plan', REMOTE], { ...env, TSNET_SSH_CONFIG: strict });
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain(`tsnet: cannot reach host "far" (ssh ${ADDRESS}): Host key verification failed.`);
  });

  it('destroy removes it from the remote host', async () => {
    const res = await tsnet(['destroy', '--auto-approve', '-q', REMOTE], env);
    expect(res.code, res.all).toBe(0);
    expect((await netnsList()).filter((n) => n.startsWith('sshk-'))).toEqual([REMOTE_NS]);
    expect(readdirSync('/etc/netns').filter((d) => d.startsWith('sshk-'))).toEqual([]);
    expect(existsSync('/etc/netns/.tsnet/sshk')).toBe(false); // the shared file and its directory too
    await eventually(async () => expect(await linkNames(REMOTE_NS)).toEqual(['lo', 'up1']));
  });

  it("ip's own exit 255 comes back as ip's failure, not as an unreachable host", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const runner = new SshRunner('far', ADDRESS);
    try {
      const ok = await runner.run(['ip', '-json', 'link', 'show', 'dev', 'lo']);
      expect(ok.exitCode, ok.stderr).toBe(0);
      // `master` naming a device that does not exist: ip exits 255 without "Command failed".
      const res = await runner.run(['ip', '-batch', '-'], { input: 'link set lo master sshk-no-such-device\n' });
      expect(res.exitCode).toBe(255);
      expect(res.stderr).toContain('argument "sshk-no-such-device" is wrong: Device does not exist');
    } finally {
      await runner.close();
      process.env = saved;
    }
  });

  it('a remote command that hangs is ended at its time limit, there and here, and comes back as unknown naming the host', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env, { TSNET_COMMAND_TIMEOUT: '1s' });
    const runner = new SshRunner('far', ADDRESS);
    const marker = `${60_000 + Math.floor(Math.random() * 1000)}`; // a sleep of this test's own
    try {
      const t0 = Date.now();
      const res = await runner.run(['sleep', marker]);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(res.exitCode).toBe(UNKNOWN_PROGRESS);
      expect(res.stderr).toContain(`sleep ${marker} on host "far" (ssh ${ADDRESS}) did not finish within 1s and was killed`);
      // The remote sleep (on this machine, in the namespace standing for the remote host) is gone.
      const sleeping = () =>
        readdirSync('/proc').filter((p) => {
          try {
            return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\u0000${marker}\u0000`;
          } catch {
            return false;
          }
        });
      await eventually(() => expect(sleeping()).toEqual([]), 10_000);
      // The connection is still good for the next command.
      expect((await runner.run(['true'])).exitCode).toBe(0);
    } finally {
      await runner.close();
      process.env = saved;
    }
  });

  const expectUnreachable = (res: { code: number; stdout: string; stderr: string; all: string }, destination: string, port: number) => {
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toContain(`tsnet: cannot reach host "far" (ssh ${destination}): ssh: connect to host ${ADDRESS} port ${port}: Connection refused`);
    expect(res.all).not.toMatch(/internal error|\n\s+at /);
    expect(controlDirs()).toEqual([]);
  };

  it('a port nothing listens on: plan fails at once with an error naming the host', async () => {
    expectUnreachable(await tsnet(['plan', CLOSED], env), 'sshk-closed', 2222);
  });

  /** Pids of ssh processes (masters included) using a control socket in the test's TMPDIR. */
  const sshUsingControlDirs = (): number[] =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`ControlPath=${join(dir, 'tsnet-ssh-')}`);
        } catch {
          return false;
        }
      })
      .map(Number);

  it('SIGINT, SIGTERM or SIGHUP in the middle of a run: no ssh master and no control directory outlive tsnet', async () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      let caught = false;
      for (let attempt = 0; attempt < 5 && !caught; attempt++) {
        const p = start(['node', BIN, 'plan', REMOTE], { env: { NO_COLOR: '1', ...env } });
        let exited = false;
        void p.done.then(() => (exited = true));
        // In the middle of the run: once its master connection is up (the control socket exists).
        while (!exited && !controlDirs().some((d) => readdirSync(join(dir, d)).length > 0)) await new Promise((r) => setTimeout(r, 1));
        p.kill('SIGSTOP');
        p.kill(signal);
        p.kill('SIGCONT');
        const res = await p.done;
        caught = res.signal === signal; // else it had finished first: again
      }
      expect(caught, `a run caught by ${signal} in the middle`).toBe(true);
      expect(controlDirs(), `no control directory after ${signal}`).toEqual([]);
      await eventually(() => expect(sshUsingControlDirs(), `no ssh master after ${signal}`).toEqual([]), 5000);
    }
  }, 60_000);

  it('sshd stopped: plan fails with an error naming the host', async () => {
    await stopSshd();
    expectUnreachable(await tsnet(['plan', REMOTE], env), ADDRESS, 22);
  });
});
