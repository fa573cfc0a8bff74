// Terminal manners and the exit codes the other kernel files leave out (README "Commands",
// "Exit codes"; test/kernel/README.md lists which test covers which code).
// - Output that is not a terminal has no escape codes, NO_COLOR or not; on a terminal (a pty
//   made by `script`) NO_COLOR leaves out every colour, and a terminal without a width gets
//   plain progress lines instead of listr2's (which would print one character per line).
// - Ctrl+C or Ctrl+D at the `yes` question of apply and destroy cancels: it says so, exits 1,
//   and the kernel is unchanged.
// - Errors go to stderr with nothing on stdout: an invalid file, a plan error.
// - --quiet prints only the summary line.
// - Exit 1 for: a host whose state cannot be read (plan and show), an apply or destroy without
//   CAP_NET_ADMIN and CAP_SYS_ADMIN, a plan or show by an unprivileged user (they say it needs
//   root), and an apply after which the kernel still differs (made here by a runner that
//   silently drops the route lines, through the CLI's own runPlan).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ExitError } from '../../src/cli/errors.js';
import { runPlan } from '../../src/cli/run-plan.js';
import { closeRunners, planSession } from '../../src/engine/index.js';
import { runnerFor, type Runner, type RunOptions, type RunResult } from '../../src/state/runner.js';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FIXTURES, ROOT, assertInLab, describeInLab, must, removeAll, run, tsnet, type Ran } from '../support/lab.js';

const FILE = join(FIXTURES, 'gitops-cli.yaml');
const NETNS = ['kcli-a', 'kcli-b'];
const BRIDGE = 'tsn-cl';
const BIN = join(ROOT, 'bin', 'tsnet.js');
const INVALID = join(ROOT, 'test', 'fixtures', 'invalid', '13-bad-version.yaml');

const ESC = '\u001b';
/** SGR sequences: colours and bold (cursor movement is not colour). */
const SGR = /\u001b\[[0-9;]*m/;

/** tsnet with exactly this colour environment (undefined: unset). */
const tsnetEnv = (env: Record<string, string | undefined>, ...args: string[]): Promise<Ran> =>
  run(['node', BIN, ...args], { env: { NO_COLOR: undefined, FORCE_COLOR: undefined, ...env } });

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** tsnet on a pseudo-terminal `cols` wide (util-linux `script`); output as the terminal got it. */
const onTerminal = (cols: number, env: Record<string, string | undefined>, ...args: string[]): Promise<Ran> =>
  run(['script', '-qec', `stty cols ${cols} rows 40; exec node ${[BIN, ...args].map(sq).join(' ')}`, '/dev/null'], {
    env: { NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm', ...env },
  });

const has = async (cmd: string) => (await run(['sh', '-c', `command -v ${cmd}`])).code === 0;

/** A runner that silently leaves out the lines adding routes: the apply "succeeds", the kernel differs. */
class RouteDroppingRunner implements Runner {
  constructor(private readonly inner: Runner) {}
  get host() {
    return this.inner.host;
  }
  get machine() {
    return this.inner.machine;
  }
  get describe() {
    return this.inner.describe;
  }
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv[0] === 'ip' && argv.includes('-batch') && opts.input !== undefined) {
      const input = opts.input
        .split('\n')
        .filter((l) => !/^route (add|replace) /.test(l.trim()))
        .join('\n');
      return this.inner.run(argv, { ...opts, input });
    }
    return this.inner.run(argv, opts);
  }
  listNetns() {
    return this.inner.listNetns();
  }
  close() {
    return this.inner.close();
  }
}

describeInLab('gitops: terminal manners, errors on stderr, --quiet, exit codes', () => {
  let empty: KernelDump;
  let dir: string;

  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    dir = mkdtempSync(join(tmpdir(), 'tsnet-cli-'));
    empty = await quietDump();
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', FILE);
    await removeAll({ netns: [...NETNS, 'kcli-missing'], links: [BRIDGE] });
    for (const f of ['journal.json', 'progress']) rmSync(`/run/tsnet/kcli.${f}`, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('output that is not a terminal has no escape codes, NO_COLOR or not (FORCE_COLOR shows the check can fail)', async () => {
    const plain = await tsnetEnv({}, 'plan', FILE);
    expect(plain.code, plain.all).toBe(0);
    expect(plain.stdout).toContain('+ sandbox.a');
    expect(plain.all).not.toContain(ESC);
    expect((await tsnetEnv({ NO_COLOR: '1' }, 'plan', FILE)).all).not.toContain(ESC);
    expect((await tsnetEnv({ FORCE_COLOR: '1' }, 'plan', FILE)).stdout).toMatch(SGR);
    expect((await tsnetEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }, 'plan', FILE)).all).not.toContain(ESC);

    const apply = await tsnetEnv({}, 'apply', '--auto-approve', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect(apply.all).not.toContain(ESC);
    expect(apply.stdout).toMatch(/^\[\d+\/14\] create namespace kcli-a$/m);
    const destroy = await tsnetEnv({}, 'destroy', '--auto-approve', FILE);
    expect(destroy.code, destroy.all).toBe(0);
    expect(destroy.all).not.toContain(ESC);
  });

  it('on a terminal: colours unless NO_COLOR; listr2 progress with a width, plain lines without one', async (ctx) => {
    if (!(await has('script'))) ctx.skip();
    const coloured = await onTerminal(100, {}, 'plan', FILE);
    expect(coloured.code, coloured.all).toBe(0);
    expect(coloured.stdout, 'a terminal is detected').toMatch(SGR);
    const plan = await onTerminal(100, { NO_COLOR: '1' }, 'plan', FILE);
    expect(plan.stdout).toContain('+ sandbox.a');
    expect(plan.stdout).not.toMatch(SGR);

    const apply = await onTerminal(100, { NO_COLOR: '1' }, 'apply', '--auto-approve', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect(apply.stdout).toContain('create sandbox.a');
    expect(apply.stdout).toContain('Apply complete! Resources: 10 added');
    expect(apply.stdout).not.toMatch(SGR);

    // No width (a pty nobody sized): listr2 would wrap at 0 columns, one character per line.
    const destroy = await onTerminal(0, { NO_COLOR: '1' }, 'destroy', '--auto-approve', FILE);
    expect(destroy.code, destroy.all).toBe(0);
    expect(destroy.stdout).toContain('delete namespace kcli-a');
    expect(destroy.stdout.split(/\r?\n/).filter((l) => l.trim().length === 1)).toEqual([]);
    expect(await settledDump(empty)).toEqual(empty);
  });

  it("on a terminal apply and destroy ask: anything but 'yes' cancels and changes nothing; 'yes' goes ahead", async (ctx) => {
    if (!(await has('script'))) ctx.skip();
    // What is typed reaches the program through script's terminal.
    const answered = (answer: string, ...args: string[]) =>
      run(['script', '-qec', `stty cols 100 rows 40; exec node ${[BIN, ...args].map(sq).join(' ')}`, '/dev/null'], {
        input: `${answer}\n`,
        env: { NO_COLOR: '1', FORCE_COLOR: undefined, TERM: 'xterm' },
      });
    const no = await answered('no', 'apply', FILE);
    expect(no.code, no.all).toBe(1);
    expect(no.all).toContain("Do you want to perform these actions? Only 'yes' will be accepted:");
    expect(no.all).toContain('apply cancelled; nothing was changed');
    expect(await settledDump(empty)).toEqual(empty);
    const yes = await answered('yes', 'apply', FILE);
    expect(yes.code, yes.all).toBe(0);
    expect(yes.all).toContain('Apply complete! Resources: 10 added');
    const keep = await answered('nope', 'destroy', FILE);
    expect(keep.code, keep.all).toBe(1);
    expect(keep.all).toContain('destroy cancelled; nothing was changed');
    expect((await tsnet('plan', '--detailed-exitcode', FILE)).code).toBe(0);
    const gone = await answered('yes', 'destroy', FILE);
    expect(gone.code, gone.all).toBe(0);
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('Ctrl+C or Ctrl+D at the question is a cancel: says so, changes nothing, exits 1', async (ctx) => {
    if (!(await has('script'))) ctx.skip();
    /** tsnet on a pty; `key` is typed once the question is on the screen (earlier, the pty would turn ^C into SIGINT). */
    const pressAtQuestion = (key: string, ...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> => {
      const argv = ['script', '-qec', `stty cols 100 rows 40; exec node ${[BIN, ...args].map(sq).join(' ')}`, '/dev/null'];
      assertInLab(argv);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, TERM: 'xterm', LC_ALL: 'C' } });
      let out = '';
      let typed = false;
      child.stdout.on('data', (d: Buffer) => {
        out += String(d);
        if (!typed && out.includes("Only 'yes' will be accepted: ")) {
          typed = true;
          setTimeout(() => child.stdin.write(key), 200);
        }
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      return new Promise((resolve) =>
        child.on('close', (code, signal) => {
          clearTimeout(killer);
          resolve({ code, signal, out });
        }),
      );
    };
    const CTRL_C = '\u0003';
    const CTRL_D = '\u0004';
    for (const [key, name] of [[CTRL_C, 'Ctrl+C'], [CTRL_D, 'Ctrl+D']] as const) {
      const res = await pressAtQuestion(key, 'apply', FILE);
      expect(res.code, `${name}: ${res.out}`).toBe(1);
      expect(res.out).toMatch(/Only 'yes' will be accepted: .*\r?\nApply cancelled\.\r?\n$/s);
      expect(res.out).not.toMatch(/internal error|This is a bug/);
      expect(await settledDump(empty)).toEqual(empty);
    }
    expect((await tsnet('apply', '--auto-approve', '-q', FILE)).code).toBe(0);
    const applied = await quietDump();
    for (const [key, name] of [[CTRL_C, 'Ctrl+C'], [CTRL_D, 'Ctrl+D']] as const) {
      const res = await pressAtQuestion(key, 'destroy', FILE);
      expect(res.code, `${name}: ${res.out}`).toBe(1);
      expect(res.out).toMatch(/Only 'yes' will be accepted: .*\r?\nDestroy cancelled\.\r?\n$/s);
      expect(res.out).not.toMatch(/internal error|This is a bug/);
      expect(await settledDump(applied)).toEqual(applied);
    }
    expect((await tsnet('destroy', '--auto-approve', '-q', FILE)).code).toBe(0);
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('errors go to stderr, with nothing on stdout: an invalid file, a plan error', async () => {
    for (const cmd of [['plan'], ['apply', '--auto-approve'], ['show']]) {
      const res = await tsnet(...cmd, INVALID);
      expect(res.code, res.all).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('error[bad-version]');
    }
    await must(['ip', 'netns', 'add', 'kcli-a']);
    try {
      for (const cmd of [['plan'], ['plan', '-q'], ['apply', '--auto-approve'], ['apply', '--auto-approve', '-q']]) {
        const res = await tsnet(...cmd, FILE);
        expect(res.code, res.all).toBe(1);
        expect(res.stdout, cmd.join(' ')).toBe('');
        expect(res.stderr).toContain('error: sandbox.a: cannot create namespace "kcli-a": the name is taken by a foreign namespace');
        expect(res.stderr).toContain('The plan has 1 error; nothing was changed.');
      }
    } finally {
      await run(['ip', 'netns', 'del', 'kcli-a']);
    }
  });

  it('--quiet prints only the summary line', async () => {
    const lines = (r: Ran) => r.stdout.split('\n');
    const plan = await tsnet('plan', '-q', FILE);
    expect(plan.code, plan.all).toBe(0);
    expect(lines(plan)).toEqual(['Plan: 10 to add, 0 to change, 0 to destroy.']);
    const apply = await tsnet('apply', '--auto-approve', '-q', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect(lines(apply)).toEqual([expect.stringMatching(/^Apply complete! Resources: 10 added, 0 changed, 0 destroyed\. \(\d+\.\ds\)$/)]);
    expect(lines(await tsnet('plan', '-q', FILE))).toEqual([`No changes. The kernel matches ${FILE}.`]);
    expect(lines(await tsnet('apply', '--auto-approve', '-q', FILE))).toEqual([`No changes. The kernel matches ${FILE}.`]);
    const destroy = await tsnet('destroy', '--auto-approve', '-q', FILE);
    expect(destroy.code, destroy.all).toBe(0);
    expect(lines(destroy)).toEqual([expect.stringMatching(/^Destroy complete! Resources: 10 destroyed\. \(\d+\.\ds\)$/)]);
    expect(lines(await tsnet('destroy', '--auto-approve', '-q', FILE))).toEqual([`Nothing to destroy: ${FILE} owns nothing on the kernel.`]);
    for (const r of [plan, apply, destroy]) expect(r.stderr).toBe('');
  });

  it('exit 1: plan and show of a host whose state cannot be read, with or without other namespaces to read', async () => {
    const file = join(dir, 'missing-host.yaml');
    writeFileSync(file, 'version: 1\nname: kcli\nhosts:\n  far: {via: netns kcli-missing}\nsandboxes:\n  a: {mode: none}\n');
    // Batch files in a directory of the test's own, in case a run dies before removing them.
    const cli = (...args: string[]) => run(['node', BIN, ...args], { env: { NO_COLOR: '1', TSNET_TMPDIR: dir } });
    const check = async () => {
      for (const cmd of ['plan', 'show']) {
        const res = await cli(cmd, file);
        expect(res.code, res.all).toBe(1);
        expect(res.stderr).toContain('cannot read the own stack of host "far" (netns kcli-missing)');
        expect(res.all).not.toMatch(/internal error|\n\s+at /);
      }
      const json = await cli('show', '--json', file);
      expect(json.code, json.all).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ format_version: expect.any(String), error: { kind: 'read', host: 'far' } });
    };
    await check();
    // Namespaces still being read when the host's own stack fails to be: the error is the same.
    const others = Array.from({ length: 30 }, (_, i) => `kcli-other-${i}`);
    await must(['ip', '-batch', '-'], { input: others.map((n) => `netns add ${n}\n`).join('') });
    try {
      await check();
    } finally {
      await removeAll({ netns: others });
    }
  });

  it('a plain file under /run/netns (what a killed `ip netns add` leaves) is no read error: plan notes it, leaves it alone', async () => {
    // It holds no namespace, so nothing of ours can hide in it (issue 10: it used to fail every
    // plan, apply and destroy with nsenter's "Invalid argument"; test/kernel/netns-leftover.test.ts).
    writeFileSync('/run/netns/kcli-broken', '');
    try {
      const res = await tsnet('plan', FILE);
      expect(res.code, res.all).toBe(0);
      expect(res.stdout).toContain('/run/netns/kcli-broken is a file with no namespace mounted on it');
      expect(res.all).not.toMatch(/internal error|\n\s+at |reassociate/);
    } finally {
      rmSync('/run/netns/kcli-broken', { force: true });
    }
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('exit 1: apply and destroy without CAP_NET_ADMIN and CAP_SYS_ADMIN, before touching anything', async (ctx) => {
    if (!(await has('setpriv'))) ctx.skip();
    const drop = ['setpriv', '--bounding-set=-net_admin,-sys_admin', '--inh-caps=-net_admin,-sys_admin', 'node', BIN];
    for (const cmd of ['apply', 'destroy']) {
      const res = await run([...drop, cmd, '--auto-approve', FILE], { env: { NO_COLOR: '1' } });
      expect(res.code, res.all).toBe(1);
      expect(res.stderr).toContain(`tsnet: ${cmd} needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to change network namespaces`);
    }
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('exit 1: plan and show as an unprivileged user say they need root, as apply does', async (ctx) => {
    if (!(await has('setpriv'))) ctx.skip();
    const nobody = (...args: string[]) => run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'node', BIN, ...args], { env: { NO_COLOR: '1' } });
    const check = async (what: string) => {
      for (const cmd of ['plan', 'show']) {
        const res = await nobody(cmd, FILE);
        expect(res.code, `${what}: ${res.all}`).toBe(1);
        expect(res.stderr, what).toBe(`tsnet: ${cmd} needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to read network namespaces and nftables; run it with sudo, or inside scripts/lab`);
        expect(res.stdout).toBe('');
      }
      const json = await nobody('plan', '--json', FILE);
      expect(json.code, json.all).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ error: { kind: 'read', host: 'local', message: expect.stringContaining('plan needs root') } });
    };
    // Nothing to enter: nftables refuses the read of tsnet's table.
    await check('no namespaces');
    // The topology's namespaces exist: entering them is refused.
    expect((await tsnet('apply', '--auto-approve', '-q', FILE)).code).toBe(0);
    try {
      await check('namespaces to enter');
    } finally {
      expect((await tsnet('destroy', '--auto-approve', '-q', FILE)).code).toBe(0);
    }
  });

  it('exit 1: an apply after which the kernel still differs says so', async () => {
    const s = await planSession(FILE, 'apply', { runnerFactory: (h) => new RouteDroppingRunner(runnerFor(h)) });
    let stderr = '';
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let failure: unknown;
    try {
      await runPlan(s, FILE, 'apply', { autoApprove: true, quiet: true });
    } catch (e) {
      failure = e;
    } finally {
      err.mockRestore();
      out.mockRestore();
      await closeRunners(s.runners);
    }
    expect(failure).toBeInstanceOf(ExitError);
    expect((failure as ExitError).exitCode).toBe(1);
    expect(stderr).toContain(`the apply ran, but the kernel still differs from ${FILE}:`);
    expect(stderr).toContain('+ route.a.default');
    expect(stderr).toContain('+ route.b.default');
    const repair = await tsnet('apply', '--auto-approve', '-q', FILE);
    expect(repair.code, repair.all).toBe(0);
    expect(repair.stdout).toContain('Apply complete! Resources: 2 added, 0 changed, 0 destroyed.');
  });
});
