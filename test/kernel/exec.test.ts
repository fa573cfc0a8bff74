// tsnet exec against the real kernel, on this machine, on two netns hosts and on an ssh host (a
// real sshd in the lab, test/support/sshd.ts), in every sandbox mode (own namespace, none,
// host, container:). Where a command ran is told by the inode of its network namespace
// (/proc/self/ns/net) against /run/netns/NAME's (or the lab's own, or a host namespace's).
// Also: stdin, the exit code (128+N for a signal) and arguments with spaces and quotes pass
// through; a missing sandbox, a foreign namespace of the same name, an unknown name and a bad
// file are errors that change nothing; several sandboxes get prefixed lines; --all --json; an
// interactive shell on a pty (util-linux `script`); and, because exec runs `ip netns exec`, the
// sandbox's /sys and a hosts file under /etc/netns/NS/ (the lab's /etc is never written: the
// test lays a throwaway overlay over it in a mount namespace of its own).
// Fixtures: fixtures/exec-local.yaml (kexl), exec-netns.yaml (kexn), exec-ssh.yaml (kexs).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipBatch } from '../support/kernel.js';
import { FIXTURES, ROOT, alive, descendants, describeInLab, eventually, must, removeAll, run, start, tsnet, type Ran } from '../support/lab.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const BIN = join(ROOT, 'bin', 'tsnet.js');
const LOCAL = join(FIXTURES, 'exec-local.yaml');
const NETNS = join(FIXTURES, 'exec-netns.yaml');
const SSH = join(FIXTURES, 'exec-ssh.yaml');
const INVALID = join(ROOT, 'test', 'fixtures', 'invalid', '13-bad-version.yaml');
const SSH_ADDRESS = '198.19.21.2';

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const inode = (ns: string) => statSync(`/run/netns/${ns}`).ino;
const LAB_INODE = () => statSync('/proc/self/ns/net').ino;
/** The inode in "net:[4026532391]" (readlink /proc/self/ns/net). */
const netOf = (text: string) => Number(/net:\[(\d+)\]/.exec(text)?.[1] ?? NaN);

interface Where {
  file: string;
  /** Environment of every tsnet run (the ssh config for the ssh host). */
  env: () => Record<string, string>;
  /** Sandbox -> the inode of the network namespace its commands must run in. */
  expected: () => Record<string, number>;
  /** A sandbox with a namespace of its own, and the host-mode one. */
  own: string;
  host: string;
}

/** tsnet with stdin from `input` (never a terminal). */
const tx = (w: Where, args: readonly string[], input = ''): Promise<Ran> => run(['node', BIN, ...args], { input, env: { NO_COLOR: '1', ...w.env() } });

/** tsnet on a pseudo-terminal (util-linux `script`), what is typed coming from `input`. */
const onPty = (w: Where, args: readonly string[], input: string): Promise<Ran> =>
  run(['script', '-qec', `stty cols 100 rows 40; exec node ${[BIN, ...args].map(sq).join(' ')}`, '/dev/null'], {
    input,
    env: { NO_COLOR: '1', TERM: 'xterm', SHELL: '/bin/sh', ...w.env() },
  });

interface JsonResult {
  sandbox: string;
  host: string;
  namespace: string | null;
  exit_code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** What every kind of host must do: every mode, streams, exit codes, arguments, JSON, a shell. */
function behavesLikeExec(w: Where): void {
  it('runs each sandbox\'s command in its network namespace, in every mode', async () => {
    for (const [sandbox, want] of Object.entries(w.expected())) {
      const res = await tx(w, ['exec', w.file, sandbox, '--', 'readlink', '/proc/self/ns/net']);
      expect(res.code, res.all).toBe(0);
      expect(netOf(res.stdout), `${sandbox}: ${res.stdout}`).toBe(want);
    }
  });

  it('passes stdin through, and arguments with spaces, quotes and shell characters arrive intact', async () => {
    for (const sandbox of [w.own, w.host]) {
      // (run() strips one final newline of what it captured)
      const cat = await tx(w, ['exec', w.file, sandbox, '--', 'cat'], 'first line\n\n  second\n\n');
      expect(cat.code, cat.all).toBe(0);
      expect(cat.stdout).toBe('first line\n\n  second\n');
      const args = await tx(w, ['exec', w.file, sandbox, '--', 'printf', '%s\\n', 'a b', "it's", '"quoted"', '$HOME', '*', '; exit 9', '--json']);
      expect(args.code, args.all).toBe(0);
      expect(args.stdout).toBe(`a b\nit's\n"quoted"\n$HOME\n*\n; exit 9\n--json`);
    }
  });

  it('the exit code passes through, as does stderr', async () => {
    const res = await tx(w, ['exec', w.file, w.own, '--', 'sh', '-c', 'echo to-stderr >&2; exit 7']);
    expect(res.code).toBe(7);
    expect(res.stderr).toBe('to-stderr');
    expect(res.stdout).toBe('');
  });

  it('--all --json: one result per sandbox in file order; exit 1 naming the ones that failed', async () => {
    const ok = await tx(w, ['exec', '--json', w.file, '--all', '--', 'readlink', '/proc/self/ns/net']);
    expect(ok.code, ok.all).toBe(0);
    const doc = JSON.parse(ok.stdout) as { format_version: string; ok: boolean; command: string[]; results: JsonResult[] };
    expect(doc.format_version).toMatch(/^1\.\d+$/);
    expect(doc.ok).toBe(true);
    expect(doc.command).toEqual(['readlink', '/proc/self/ns/net']);
    expect(doc.results.map((r) => r.sandbox)).toEqual(Object.keys(w.expected()));
    for (const r of doc.results) {
      expect({ sandbox: r.sandbox, net: netOf(r.stdout), exit: r.exit_code, stderr: r.stderr }).toEqual({ sandbox: r.sandbox, net: w.expected()[r.sandbox], exit: 0, stderr: '' });
    }
    // Only sandboxes with an eth0 succeed: not the none-mode one, nor the host's stack.
    const some = await tx(w, ['exec', '--json', w.file, '--all', '--', 'ip', 'link', 'show', 'dev', 'eth0']);
    expect(some.code, some.all).toBe(1);
    const results = (JSON.parse(some.stdout) as { results: JsonResult[] }).results;
    const failed = results.filter((r) => r.exit_code !== 0).map((r) => r.sandbox);
    expect(failed.sort()).toEqual(['quiet', w.host].sort());
    expect(results.find((r) => r.sandbox === 'quiet')!.stderr).toContain('eth0');
    expect(some.stderr).toContain(`tsnet: 2 of ${results.length} sandboxes failed: `);
    for (const s of failed) expect(some.stderr).toContain(`${s} (exit `);
  });

  it('without a command: an interactive shell on a terminal, in the sandbox, whose exit code is tsnet\'s', async () => {
    const res = await onPty(w, ['exec', w.file, w.own], 'echo "shell pid $$"; readlink /proc/self/ns/net; tty; exit 3\n');
    expect(res.code, res.all).toBe(3);
    expect(res.stdout).toMatch(/shell pid \d+/);
    expect(res.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(netOf(res.stdout.slice(res.stdout.indexOf('net:[')))).toBe(w.expected()[w.own]);
  });
}

describeInLab('tsnet exec', () => {
  describe('on this machine', () => {
    const w: Where = {
      file: LOCAL,
      env: () => ({}),
      expected: () => ({ a: inode('kexl-a'), bb: inode('kexl-bb'), side: inode('kexl-a'), quiet: inode('kexl-quiet'), hst: LAB_INODE() }),
      own: 'a',
      host: 'hst',
    };

    it('before apply: a sandbox that does not exist is an error naming it and saying apply makes it', async () => {
      const res = await tx(w, ['exec', LOCAL, 'a', '--', 'true']);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe(`tsnet: sandbox "a" does not exist: there is no namespace "kexl-a" on host "local" (this machine); run "tsnet apply ${LOCAL}" to make it`);
    });

    it('applies', async () => {
      const res = await tsnet('apply', '--auto-approve', '-q', LOCAL);
      expect(res.code, res.all).toBe(0);
    });

    behavesLikeExec(w);

    it('a command a signal ends exits 128+N', async () => {
      const res = await tx(w, ['exec', LOCAL, 'a', '--', 'sh', '-c', 'kill -TERM $$']);
      expect(res.code).toBe(128 + 15);
    });

    it('SIGTERM to tsnet reaches the command (one sandbox: its 143 is tsnet\'s; several: all end, exit 1 naming them)', async () => {
      /** The `sleep` processes under a tsnet process. */
      const sleepers = (pid: number) =>
        descendants(pid).filter((p) => {
          try {
            return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep';
          } catch {
            return false; // gone meanwhile
          }
        });
      const one = start(['node', BIN, 'exec', LOCAL, 'a', '--', 'sleep', '60'], { env: { NO_COLOR: '1' } });
      try {
        const [sleeper] = await eventually(() => {
          const found = sleepers(one.pid);
          expect(found).toHaveLength(1);
          return found;
        }, 10_000);
        one.kill('SIGTERM');
        const res = await one.done;
        expect(res.code, res.all).toBe(143);
        expect(alive(sleeper!)).toBe(false);
      } finally {
        one.kill('SIGKILL');
      }
      const many = start(['node', BIN, 'exec', LOCAL, 'a', 'bb', '--', 'sleep', '60'], { env: { NO_COLOR: '1' } });
      try {
        const found = await eventually(() => {
          const f = sleepers(many.pid);
          expect(f).toHaveLength(2);
          return f;
        }, 10_000);
        many.kill('SIGTERM');
        const res = await many.done;
        expect(res.code, res.all).toBe(1);
        expect(res.stderr).toContain('2 of 2 sandboxes failed: a (signal SIGTERM, exit 143), bb (signal SIGTERM, exit 143)');
        expect(found.filter(alive)).toEqual([]);
      } finally {
        many.kill('SIGKILL');
      }
    });

    it('several sandboxes: each line after its sandbox\'s name, aligned; stderr lines too; no stdin', async () => {
      const res = await tx(w, ['exec', LOCAL, 'a', 'bb', '--', 'sh', '-c', 'echo one; echo two; echo warn >&2; cat'], 'not for them\n');
      expect(res.code, res.all).toBe(0);
      expect(res.stdout.split('\n').filter(Boolean).sort()).toEqual(['a  | one', 'a  | two', 'bb | one', 'bb | two']);
      // Each sandbox's own lines keep their order.
      expect(res.stdout.indexOf('a  | one')).toBeLessThan(res.stdout.indexOf('a  | two'));
      expect(res.stderr.split('\n').filter(Boolean).sort()).toEqual(['a  | warn', 'bb | warn']);
    });

    it('a sandbox named once runs once; a line without a final newline is still a line', async () => {
      const res = await tx(w, ['exec', LOCAL, 'a', 'a', 'quiet', '--', 'printf', 'no newline']);
      expect(res.code, res.all).toBe(0);
      expect(res.stdout.split('\n').filter(Boolean).sort()).toEqual(['a     | no newline', 'quiet | no newline']);
    });

    it('runs through ip netns exec: the sandbox\'s own /sys, and /etc/netns/NS/hosts over /etc/hosts', async () => {
      const sys = await tx(w, ['exec', LOCAL, 'side', '--', 'ls', '/sys/class/net']);
      expect(sys.stdout.split('\n').filter(Boolean)).toEqual(['eth0', 'lo']);
      // An overlay on /etc in a mount namespace of this command only: the hosts files exist
      // there and nowhere else. a's resolv.conf points at its own loopback, so the lookup of
      // the IPv6 address getent also asks for goes nowhere (and fails at once).
      const script = [
        'mount -t tmpfs tsnet-test "$1"',
        'mkdir "$1/upper" "$1/work"',
        'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc',
        'mkdir -p /etc/netns/kexl-a /etc/netns/kexl-bb',
        'echo "198.18.90.3 peer.kexl" > /etc/netns/kexl-a/hosts',
        'echo "nameserver 127.0.0.1" > /etc/netns/kexl-a/resolv.conf',
        'echo "198.18.90.2 other.kexl" > /etc/netns/kexl-bb/hosts',
        'shift',
        'node "$@" a bb hst -- cat /etc/hosts || exit',
        'exec node "$@" a -- getent hosts peer.kexl',
      ].join('\n');
      const dir = (await must(['mktemp', '-d'])).trim();
      try {
        const res = await run(['unshare', '--mount', '--', 'sh', '-c', script, 'sh', dir, BIN, 'exec', LOCAL], { env: { NO_COLOR: '1' } });
        expect(res.code, res.all).toBe(0);
        const lines = res.stdout.split('\n');
        expect(lines.filter((l) => l.startsWith('a ') || l.startsWith('bb ')).sort()).toEqual(['a   | 198.18.90.3 peer.kexl', 'bb  | 198.18.90.2 other.kexl']);
        // The host's stack is not a namespace: its /etc/hosts is the machine's own.
        const hst = lines.filter((l) => l.startsWith('hst '));
        expect(hst.length, res.stdout).toBeGreaterThan(0);
        expect(hst.join('\n')).not.toContain('.kexl');
        expect(lines.at(-1)).toMatch(/^198\.18\.90\.3\s+peer\.kexl$/);
      } finally {
        await run(['rmdir', dir]);
      }
    });

    it('an unknown sandbox name lists the known ones; a bad file gives its diagnostics; exit 1', async () => {
      const unknown = await tx(w, ['exec', LOCAL, 'a', 'nope', '--', 'true']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe(`tsnet: no sandbox "nope" in ${LOCAL}; its sandboxes: a, bb, side, quiet, hst`);
      const bad = await tx(w, ['exec', INVALID, 'a', '--', 'true']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toContain('13-bad-version.yaml:');
      expect(bad.stderr).toContain('version');
    });

    it('usage: several names need "--" before the command; --all needs a command; a shell is for one sandbox', async () => {
      const noDash = await tx(w, ['exec', LOCAL, 'a', 'hostname']);
      expect(noDash.code).toBe(1);
      expect(noDash.stderr).toContain('put the command after "--" (tsnet exec FILE a -- hostname)');
      const all = await tx(w, ['exec', LOCAL, '--all']);
      expect(all.code).toBe(1);
      expect(all.stderr).toContain('a command is needed with several sandboxes or --all');
      const json = await tx(w, ['exec', '--json', LOCAL, 'a']);
      expect(json.code).toBe(1);
      expect(json.stderr).toContain('--json needs a command');
    });

    it('a namespace of the same name that this topology did not make is refused', async () => {
      const res = await tsnet('destroy', '--auto-approve', '-q', LOCAL);
      expect(res.code, res.all).toBe(0);
      await must(['ip', 'netns', 'add', 'kexl-a']);
      try {
        const exec = await tx(w, ['exec', LOCAL, 'a', '--', 'echo', 'ran']);
        expect(exec.code).toBe(1);
        expect(exec.stdout).toBe('');
        expect(exec.stderr).toContain('tsnet: sandbox "a": namespace "kexl-a" on host "local" (this machine) is not this topology\'s sandbox (its lo carries no tsnet mark');
        await ipBatch(['link set lo alias tsnet:other:sandbox.a'], 'kexl-a');
        const other = await tx(w, ['exec', LOCAL, 'a', '--', 'true']);
        expect(other.code).toBe(1);
        expect(other.stderr).toContain('(its lo belongs to topology "other", not "tsnet:kexl:sandbox.a")');
        // The container: sandbox is checked against its target's mark.
        const side = await tx(w, ['exec', LOCAL, 'side', '--', 'true']);
        expect(side.stderr).toContain('tsnet: sandbox "side": namespace "kexl-a"');
      } finally {
        await removeAll({ netns: ['kexl-a'] });
      }
    });
  });

  describe('on netns hosts', () => {
    const HOSTS = ['kexn-h1', 'kexn-h2'];
    const w: Where = {
      file: NETNS,
      env: () => ({}),
      expected: () => ({ a: inode('kexn-a'), hst: inode('kexn-h1'), b: inode('kexn-b'), side: inode('kexn-b'), quiet: inode('kexn-quiet') }),
      own: 'a',
      host: 'hst',
    };
    beforeAll(async () => {
      for (const h of HOSTS) {
        await must(['ip', 'netns', 'add', h]);
        await ipBatch(['link set lo up'], h);
      }
      const res = await tsnet('apply', '--auto-approve', '-q', NETNS);
      expect(res.code, res.all).toBe(0);
    });
    afterAll(async () => {
      await tsnet('destroy', '--auto-approve', '-q', NETNS);
      await removeAll({ netns: HOSTS });
    });

    behavesLikeExec(w);

    it('a host-mode sandbox sees its host\'s interfaces (the host namespace\'s /sys)', async () => {
      const res = await tx(w, ['exec', NETNS, 'hst', '--', 'ls', '/sys/class/net']);
      expect(res.code, res.all).toBe(0);
      expect(res.stdout.split('\n')).toContain('tsn-n1');
    });

    it('names through the hosts link tsnet made (ip netns exec of the netns host mounts its target): side answers as b\'s namespace', async () => {
      const res = await tx(w, ['exec', NETNS, 'a', 'side', '--json', '--', 'getent', '-s', 'files', 'ahostsv4', 'side.kexn']);
      const results = (JSON.parse(res.stdout) as { results: { sandbox: string; exit_code: number; stdout: string }[] }).results;
      // a (on n1) does not see side (on n2 with b); b's namespace does, through its link.
      expect(Object.fromEntries(results.map((r) => [r.sandbox, r.exit_code === 0 ? r.stdout.split(/\s+/)[0] : null]))).toEqual({ a: null, side: '198.18.92.2' });
    });
  });

  describe('on an ssh host', () => {
    let sshd: Sshd | undefined;
    const w: Where = {
      file: SSH,
      env: () => sshd!.env,
      expected: () => ({ s: inode('kexs-s'), side: inode('kexs-s'), quiet: inode('kexs-quiet'), hst: inode('kexs-remote') }),
      own: 's',
      host: 'hst',
    };
    const controlDirs = () => readdirSync(sshd!.dir).filter((f) => f.startsWith('tsnet-ssh-'));
    beforeAll(async () => {
      sshd = await startSshd({ ns: 'kexs-remote', labLink: 'kexs-up0', address: SSH_ADDRESS });
    });
    afterAll(async () => {
      if (sshd) {
        await tx(w, ['destroy', '--auto-approve', '-q', SSH]);
        await sshd.stop();
      }
      await removeAll({ netns: ['kexs-s', 'kexs-quiet'] });
    });

    it('before apply: the missing sandbox is named, over ssh', async () => {
      const res = await tx(w, ['exec', SSH, 's', '--', 'true']);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(`tsnet: sandbox "s" does not exist: there is no namespace "kexs-s" on host "far" (ssh ${SSH_ADDRESS}); run "tsnet apply ${SSH}" to make it`);
    });

    it('applies over ssh', async () => {
      const res = await tx(w, ['apply', '--auto-approve', '-q', SSH]);
      expect(res.code, res.all).toBe(0);
    });

    behavesLikeExec(w);

    it('a command a signal ends: ssh reports 255 (it does not pass the signal on), as the README says', async () => {
      const res = await tx(w, ['exec', SSH, 's', '--', 'sh', '-c', 'kill -TERM $$']);
      expect(res.code).toBe(255);
    });

    it('leaves no ssh connection behind', () => {
      expect(controlDirs()).toEqual([]);
    });
  });
});
