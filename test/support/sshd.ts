// A real sshd (OpenSSH) inside the lab, standing for a remote machine, as test/kernel/ssh.test.ts
// runs one: in a namespace of its own that listens only on an address that exists only inside
// the lab, with a host key and a user key made for the test, and an ssh_config for tsnet
// (TSNET_SSH_CONFIG) that trusts exactly that host key. sshd is entered with nsenter --net (not
// `ip netns exec`, which would give it a mount namespace of its own): the namespaces it makes
// are then visible to the test.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ipBatch } from './kernel.js';
import { eventually, must, removeAll, run } from './lab.js';

export interface SshdOptions {
  /** Namespace standing for the remote machine (made here, deleted by stop()). */
  ns: string;
  /** The lab's end of the link to it (in the lab's own stack). */
  labLink: string;
  /** The remote address, /24, e.g. 198.19.21.2; the lab's end gets .1 of the same /24. */
  address: string;
}

export interface Sshd {
  /** Environment for tsnet runs: the ssh_config, and a TMPDIR of the test's (ssh control directories). */
  env: Record<string, string>;
  dir: string;
  /** Stops sshd and removes the namespace, the link and the keys. */
  stop(): Promise<void>;
}

/** True while the process runs (a zombie waiting for its reaper does not count). */
const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-sshd-'));
  for (const key of ['hostkey', 'userkey']) await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `tsnet-test-${key}`, '-f', join(dir, key)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'userkey.pub')));
  const labAddress = opts.address.replace(/\.\d+$/, '.1');
  await must(['ip', 'netns', 'add', opts.ns]);
  await ipBatch([`link add ${opts.labLink} type veth peer name up1 netns ${opts.ns}`, `addr add ${labAddress}/24 dev ${opts.labLink}`, `link set ${opts.labLink} up`]);
  await ipBatch(['link set lo up', `addr add ${opts.address}/24 dev up1`, 'link set up1 up'], opts.ns);
  const pidFile = join(dir, 'sshd.pid');
  const sshdConfig = join(dir, 'sshd_config');
  writeFileSync(
    sshdConfig,
    [
      'Port 22',
      `ListenAddress ${opts.address}`,
      `HostKey ${join(dir, 'hostkey')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${pidFile}`,
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory
  await must(['nsenter', `--net=/run/netns/${opts.ns}`, '/usr/sbin/sshd', '-f', sshdConfig, '-E', join(dir, 'sshd.log')]);
  await eventually(() => {
    if (!existsSync(pidFile)) throw new Error('sshd has not written its PidFile');
  });
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  // bash runs the remote user's ~/.bashrc for every command ssh starts; on a machine where it
  // sets up tools (pyenv and the like) that costs seconds per command. The lab has a mount
  // namespace of its own: an empty file is laid over it there, and only there, until stop().
  const bashrc = join(userInfo().homedir, '.bashrc');
  const hideRc = existsSync(bashrc) && (await run(['mount', '--bind', '/dev/null', bashrc])).code === 0;
  const hostKey = readFileSync(join(dir, 'hostkey.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `${opts.address} ${hostKey}\n`);
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(
    sshConfig,
    [
      `Host ${opts.address}`,
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
  return {
    env: { TSNET_SSH_CONFIG: sshConfig, TMPDIR: dir },
    dir,
    stop: async () => {
      if (alive(pid)) {
        process.kill(pid, 'SIGTERM');
        await eventually(() => {
          if (alive(pid)) throw new Error(`sshd ${pid} still running`);
        });
      }
      if (hideRc) await run(['umount', bashrc]);
      await removeAll({ netns: [opts.ns], links: [opts.labLink] });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
