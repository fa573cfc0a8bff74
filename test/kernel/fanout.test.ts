// The fan-out (src/state/fanout.ts) starts per-namespace `ip` batches through xargs workers and
// cuts their shared output back into each namespace's. These tests run it against the real
// kernel next to the one-by-one path, with failures in the middle, and apply a topology whose
// failure can only be seen through it.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execute } from '../../src/executor/execute.js';
import type { Plan, Step } from '../../src/planner/types.js';
import { runInNamespaces, type NsJob } from '../../src/state/fanout.js';
import { LocalRunner } from '../../src/state/runner.js';
import { ROOT, describeInLab, eventually, must, netnsNames, removeAll, run, start, tsnet } from '../support/lab.js';

const BIN = join(ROOT, 'bin', 'tsnet.js');

const NAMES = Array.from({ length: 12 }, (_, i) => `fo-${i}`);
const READ = 'link show\naddr show\nroute show table all\n';

describeInLab('fan-out of per-namespace batches', () => {
  beforeAll(async () => {
    for (const ns of NAMES) await must(['ip', 'netns', 'add', ns]);
  });
  afterAll(async () => {
    await removeAll({ netns: NAMES });
    delete process.env.TSNET_NO_FANOUT;
  });

  it('gives every namespace exactly the output and errors that running it alone gives', async () => {
    const jobs: NsJob[] = NAMES.map((ns) => ({ ns, input: READ, outputLines: 3 }));
    // A failing line in the middle of one batch, an address in another, a missing namespace.
    jobs[3] = { ns: 'fo-3', input: `link set lo up\nlink set dev fo-no-such-link up\n${READ}`, outputLines: 3 };
    jobs[5] = { ns: 'fo-5', input: `link set lo up\naddr add 198.18.99.5/32 dev lo\n${READ}`, outputLines: 3 };
    jobs.push({ ns: 'fo-missing', input: READ, outputLines: 3 });
    const runner = new LocalRunner('local');
    const fanned = await runInNamespaces(runner, ['-d', '-json'], jobs, 2);
    process.env.TSNET_NO_FANOUT = '1';
    // fo-3 and fo-5 changed lo in the first run; the second sees the same state, so the
    // outputs must agree line for line.
    const alone = await runInNamespaces(runner, ['-d', '-json'], jobs.map((j) => (j.ns === 'fo-5' ? { ...j, input: READ } : j)), 2);
    delete process.env.TSNET_NO_FANOUT;
    expect(fanned.map((r) => r.exitCode)).toEqual(alone.map((r) => r.exitCode));
    expect(fanned[3]!.exitCode).toBe(1);
    expect(fanned[3]!.stderr).toContain('Cannot find device "fo-no-such-link"');
    expect(fanned[3]!.stderr).toContain('Command failed -:2');
    expect(fanned[12]!.stderr).toContain('/run/netns/fo-missing');
    for (const i of [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]) {
      expect(fanned[i]!.stdout, NAMES[i]).toBe(alone[i]!.stdout);
      expect(fanned[i]!.stdout.trim().split('\n')).toHaveLength(3);
    }
    expect(fanned[5]!.stdout).toContain('198.18.99.5');
    expect(fanned[4]!.stdout).not.toContain('198.18.99.5');
  });
});

describeInLab('an apply that fails inside the fan-out', () => {
  const file = 'test/kernel/fixtures/fanout-clash.yaml';
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', file);
    await removeAll({ netns: ['fanout-s0', 'fanout-s1', 'fanout-s2', 'fanout-s3', 'fanout-s4', 'fanout-s5'], links: ['tsn-fanout'] });
  });

  it('rolls back every namespace and says which step failed', async () => {
    const before = await netnsNames();
    // Six sandboxes; the fifth asks for a route the kernel refuses inside its own batch.
    const res = await tsnet('apply', '--auto-approve', file);
    expect(res.code, res.all).toBe(1);
    expect(res.stderr).toMatch(/step "add route 198\.18\.90\.0\/24 via 198\.18\.90\.1 in fanout-s4" \(route\.s4\.198\.18\.90\.0\/24\) failed/);
    expect(res.stderr).toContain('the kernel is as it was before');
    expect(await netnsNames()).toEqual(before);
    const bridge = await run(['ip', 'link', 'show', 'tsn-fanout']);
    expect(bridge.code).not.toBe(0);
  });
});

// ip exits 255 without naming the line on some argument errors (here `master` naming a device
// that does not exist), and xargs stops at a child that exits 255. Nothing may run twice, and
// everything that ran is undone.
describeInLab('ip exiting 255 in the middle of a batch', () => {
  const NS = ['x255-n1', 'x255-n2', 'x255-n3', 'x255-n4'];
  const runners = new Map([['h', new LocalRunner('h')]]);
  const addr = (i: number) => `198.18.86.${i}/32`;
  const step = (address: string, phase: string, ns: string | null, lines: string[][], undo: string[][]): Step => ({
    id: `h|${address}|${phase}`,
    host: 'h',
    address,
    phase,
    ns,
    tool: 'ip',
    action: 'update',
    isDeletion: false,
    creates: [],
    deletes: [],
    marks: [],
    description: `${address} ${phase}`,
    do: lines,
    undo: undo.map((argv) => ({ host: 'h', ns, tool: 'ip', argv })),
    after: [],
  });
  const planOf = (steps: Step[]): Plan => ({ topology: 'x255', changes: [], errors: [], hosts: ['h'], implicitHost: true, steps });
  const loAddresses = async (ns: string) => (await must(['ip', '-4', '-o', 'addr', 'show', 'dev', 'lo'], { ns })).split('\n').filter((l) => l.includes('198.18.86.')).length;

  beforeAll(async () => {
    await removeAll({ netns: NS, links: ['x255-a', 'x255-b'] });
    for (const ns of NS) await must(['ip', 'netns', 'add', ns]);
  });
  afterAll(async () => {
    await removeAll({ netns: NS, links: ['x255-a', 'x255-b'] });
  });

  it("in the host's batch: the steps before it are done and undone, the failing step named with ip's text and undone", async () => {
    const res = await execute(
      planOf([
        step('network.a', 'create', null, [['link', 'add', 'x255-a', 'type', 'bridge']], [['link', 'del', 'x255-a']]),
        step('network.b', 'create', null, [['link', 'add', 'x255-b', 'type', 'bridge'], ['link', 'set', 'x255-b', 'master', 'x255-gone']], [['link', 'del', 'x255-b']]),
      ]),
      { runners, concurrency: 1, readBack: false },
    );
    expect(res.ok).toBe(false);
    expect(res.failure?.step.id).toBe('h|network.b|create');
    expect(res.failure?.error).toContain('Device does not exist');
    expect(res.completed.map((s) => s.id)).toEqual(['h|network.a|create']);
    expect(res.rollbackErrors).toEqual([]);
    for (const l of ['x255-a', 'x255-b']) expect((await run(['ip', 'link', 'show', l])).code, l).not.toBe(0);
  });

  it('in the fan-out: no batch runs twice, the real error is kept, and every namespace is put back', async () => {
    const steps = NS.map((ns, i) =>
      step(
        `sandbox.${ns}`,
        'config',
        ns,
        [['addr', 'add', addr(i + 1), 'dev', 'lo'], ...(i === 1 ? [['link', 'set', 'lo', 'master', 'x255-gone']] : [])],
        [['addr', 'del', addr(i + 1), 'dev', 'lo']],
      ),
    );
    const res = await execute(planOf(steps), { runners, concurrency: 1, readBack: false });
    expect(res.ok).toBe(false);
    expect(res.failure?.error).toContain('argument "x255-gone" is wrong: Device does not exist');
    for (const ns of NS) expect(await loAddresses(ns), ns).toBe(0);
  });
});

// Batch directories (src/state/fanout.ts batchDir): /dev/shm is shared between PID namespaces
// and /proc is not. A run in a PID namespace of its own (unshare --pid, as in a container) with
// a pid that does not exist outside it keeps its batch files while a run outside starts a
// fan-out (which is when batch directories of dead runs are cleaned up).
describeInLab('batch directories of a run in another PID namespace', () => {
  const NS = Array.from({ length: 5 }, (_, i) => `fopid-s${i}`);
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-fopid-'));
    writeFileSync(join(dir, 'fopid.yaml'), `version: 1\nname: fopid\nsandboxes:\n${NS.map((_, i) => `  s${i}: {mode: none}\n`).join('')}`);
    // An ip that takes its time over batch files: the fan-out is caught running.
    mkdirSync(join(dir, 'bin'));
    const realIp = (await must(['sh', '-c', 'command -v ip'])).trim();
    writeFileSync(join(dir, 'bin', 'ip'), `#!/bin/sh\ncase " $* " in *" -batch ${dir}/tmp/"*) sleep 3;; esac\nexec ${realIp} "$@"\n`, { mode: 0o755 });
    mkdirSync(join(dir, 'tmp'));
    expect((await tsnet('apply', '--auto-approve', '-q', join(dir, 'fopid.yaml'))).code).toBe(0);
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', join(dir, 'fopid.yaml'));
    await removeAll({ netns: NS });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a fan-out outside does not remove the batch files of a live run inside another PID namespace', async () => {
    const file = join(dir, 'fopid.yaml');
    const tmp = join(dir, 'tmp');
    // A pid free out here, so that out here /proc has no such process.
    let pid = 30_000;
    while (existsSync(`/proc/${pid + 1}`) || existsSync(`/proc/${pid + 2}`)) pid -= 7;
    const env = { NO_COLOR: '1', TSNET_TMPDIR: tmp, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
    const inside = start(['unshare', '--pid', '--fork', '--mount-proc', 'sh', '-c', `echo ${pid} > /proc/sys/kernel/ns_last_pid && node "$0" plan -q "$1"`, BIN, file], { env });
    // Its fan-out is running once its batch directory holds files.
    const batch = await eventually(() => {
      const d = readdirSync(tmp).find((n) => n.startsWith('tsnet-batch-'));
      expect(d, 'the run inside made its batch directory').toBeDefined();
      expect(readdirSync(join(tmp, d!)).length).toBeGreaterThan(0);
      return d!;
    }, 20_000);
    expect(existsSync(`/proc/${pid + 1}`), 'the run inside has a pid unknown out here').toBe(false);
    // A run out here, fanning out through the same directory.
    const outside = await run(['node', BIN, 'plan', '-q', file], { env: { NO_COLOR: '1', TSNET_TMPDIR: tmp } });
    expect(outside.code, outside.all).toBe(0);
    expect(readdirSync(tmp), 'the live run\'s batch directory is still there').toContain(batch);
    const res = await inside.done;
    expect(res.code, res.all).toBe(0);
    expect(res.stdout).toBe(`No changes. The kernel matches ${file}.`);
    expect(readdirSync(tmp), 'each run removed its own directory').toEqual([]);
  }, 60_000);
});
