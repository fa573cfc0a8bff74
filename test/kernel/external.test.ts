// Attaching running containers against the real kernel: a namespace made outside tsnet
// (`ip netns add`) and a process's (`unshare --net sleep`), each with interfaces, addresses and
// routes of its own. tsnet adds its endpoints there (traffic to a normal sandbox), detaches one
// when it leaves the file, and destroy leaves both namespaces exactly as they were (a dump of
// each, before and after). A process that is gone is a plan error.
// Fixture: fixtures/external.yaml (kext); the pid variant is written per run.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FIXTURES, alive, describeInLab, eventually, must, removeAll, run, start, tsnet, type Ran, type Started } from '../support/lab.js';

const FILE = join(FIXTURES, 'external.yaml');
const ok = (r: Ran) => expect(r.code, r.all).toBe(0);

/** Links (name, kind, alias, state), addresses and routes of a namespace, as `ip` prints them. */
async function dump(enter: string[]): Promise<string> {
  const links = JSON.parse(await must([...enter, 'ip', '-d', '-json', 'link', 'show'])) as { ifname: string; ifalias?: string; flags: string[]; linkinfo?: { info_kind?: string } }[];
  const addrs = await must([...enter, 'ip', '-o', 'addr', 'show']);
  const routes = await must([...enter, 'ip', 'route', 'show', 'table', 'all']);
  return [...links.map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? '-'} ${l.ifalias ?? '-'} ${l.flags.join(',')}`), addrs, routes].join('\n');
}

describeInLab('external sandboxes (attaching running containers)', () => {
  let dir: string;
  let proc: Started;
  let pid: number;
  let pidFile: string;
  const named = ['ip', 'netns', 'exec', 'kext-outside'];
  const ofPid = () => ['nsenter', `--net=/proc/${pid}/ns/net`];
  let before: { named: string; pid: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-external-'));
    // A namespace made outside tsnet, with an interface, an address and a route of its own.
    await must(['ip', 'netns', 'add', 'kext-outside']);
    await must(['ip', 'netns', 'exec', 'kext-outside', 'sh', '-c', 'ip link set lo up && ip link add own0 type veth peer name own1 && ip addr add 198.51.100.1/24 dev own0 && ip link set own0 up && ip route add 203.0.113.0/24 via 198.51.100.2 dev own0 onlink']);
    // A process in a namespace of its own, as a container's.
    proc = start(['unshare', '--net', 'sh', '-c', 'ip link set lo up && ip link add own0 type veth peer name own1 && ip addr add 198.51.100.1/24 dev own0 && ip link set own0 up && exec sleep 1000']);
    pid = proc.pid;
    await eventually(async () => expect((await must([...ofPid(), 'ip', '-o', 'addr', 'show', 'own0'])).includes('198.51.100.1')).toBe(true));
    pidFile = join(dir, 'external-pid.yaml');
    const text = readFileSync(FILE, 'utf8') + `  proc:\n    external: true\n    pid: ${pid}\n    endpoints: [{network: n, name: tsn0, ip: 198.18.99.4}]\n`;
    writeFileSync(pidFile, text);
    before = { named: await dump(named), pid: await dump(ofPid()) };
  });
  afterAll(async () => {
    // Only after a test that failed half way (the destroy test leaves nothing of the topology).
    if (existsSync('/run/netns/kext-inside')) {
      await tsnet('destroy', '--auto-approve', '-q', pidFile);
      await tsnet('destroy', '--auto-approve', '-q', FILE);
    }
    proc?.kill('SIGKILL');
    await removeAll({ netns: ['kext-outside', 'kext-inside', 'kext-proc'] });
    rmSync(dir, { recursive: true, force: true });
  });

  it('attaches both: tsnet\'s endpoints inside, traffic to a normal sandbox, by name too; the namespaces carry no mark', async () => {
    ok(await tsnet('apply', '--auto-approve', '-q', pidFile));
    expect(await must([...named, 'ping', '-c1', '-W2', '198.18.99.2'])).toContain('1 received');
    expect(await must([...ofPid(), 'ping', '-c1', '-W2', '198.18.99.2'])).toContain('1 received');
    expect(await must(['ip', 'netns', 'exec', 'kext-inside', 'ping', '-c1', '-W2', 'proc'])).toContain('1 received');
    const lo = await must([...named, 'ip', '-d', 'link', 'show', 'lo']);
    expect(lo).not.toContain('tsnet:');
    // The process's namespace has no name once tsnet is done with it.
    expect((await must(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0])).not.toContain('kext-proc');
    expect((await tsnet('plan', '--detailed-exitcode', pidFile)).code).toBe(0);
  });

  it('tsnet exec runs in them: the named namespace and the process\'s (its own interface and tsnet\'s)', async () => {
    const inProc = await tsnet('exec', pidFile, 'proc', '--', 'ip', '-o', 'addr', 'show');
    ok(inProc);
    expect(inProc.stdout).toContain('own0    inet 198.51.100.1/24');
    expect(inProc.stdout).toContain('tsn0    inet 198.18.99.4/24');
    // No names file in a namespace tsnet did not make.
    expect(existsSync('/etc/netns/kext-outside')).toBe(false);
    const byAddress = await tsnet('exec', pidFile, 'named', '--', 'ping', '-c1', '-W2', '198.18.99.4');
    ok(byAddress);
    expect((await must(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0])).not.toContain('kext-proc');
  });

  it('detach: an external sandbox taken out of the file loses tsnet\'s endpoint, and only that', async () => {
    ok(await tsnet('apply', '--auto-approve', '-q', FILE)); // without proc
    expect(await dump(ofPid())).toBe(before.pid);
    expect(await dump(named)).not.toBe(before.named);
  });

  it('destroy leaves the namespace made outside tsnet exactly as it was', async () => {
    ok(await tsnet('destroy', '--auto-approve', '-q', FILE));
    expect(await dump(named)).toBe(before.named);
    // (other kernel test files run beside this one: only this file's namespaces are looked at)
    expect((await must(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0]).filter((n) => n?.startsWith('kext-'))).toEqual(['kext-outside']);
  });

  it('a process that is gone is a plan error, not "absent"', async () => {
    proc.kill('SIGKILL');
    await eventually(() => expect(alive(pid)).toBe(false));
    const plan = await tsnet('plan', pidFile);
    expect(plan.code).toBe(1);
    expect(plan.all).toContain(`external sandbox: process ${pid} is gone`);
    expect((await run(['ip', 'link', 'show', 'tsn-n'])).code).not.toBe(0);
    const exec = await tsnet('exec', pidFile, 'proc', '--', 'true');
    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain(`sandbox "proc": process ${pid} is gone`);
  });
});
