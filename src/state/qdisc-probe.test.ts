// The probe's reading of tc's answers, with a fake runner; test/kernel/tc.test.ts runs it for real.
import { describe, expect, it } from 'vitest';
import { missingQdiscMessage, PROBE_ARGV, PROBE_INPUT, probeOncePerMachine, probeProblems, probeQdiscs, readProbe } from './qdisc-probe.js';
import type { RunOptions, RunResult, Runner } from './runner.js';

class ScriptedRunner implements Runner {
  readonly describe = 'scripted';
  readonly calls: { argv: readonly string[]; opts: RunOptions | undefined }[] = [];
  constructor(
    readonly host: string,
    readonly machine: string,
    private readonly answer: RunResult,
  ) {}
  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.calls.push({ argv, opts });
    return this.answer;
  }
  async listNetns(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

// What tc 6.1 printed on this machine's kernel (no sch_netem), captured in the lab.
const NO_NETEM = { exitCode: 1, stdout: '', stderr: 'Error: Specified qdisc kind is unknown.\nCommand failed -:2\n' };

describe('readProbe', () => {
  it('both lines accepted: both qdiscs', () => {
    expect(readProbe('h1', { exitCode: 0, stderr: '' }, 12)).toEqual({ ok: true, host: 'h1', has: { tbf: true, netem: true }, ms: 12 });
  });

  it('the netem line refused as an unknown kind: no netem', () => {
    expect(readProbe('h1', NO_NETEM, 12)).toMatchObject({ ok: true, has: { tbf: true, netem: false } });
    const both = { exitCode: 1, stderr: 'Error: Specified qdisc kind is unknown.\nCommand failed -:1\nRTNETLINK answers: No such file or directory\nCommand failed -:2\n' };
    expect(readProbe('h1', both, 12)).toMatchObject({ ok: true, has: { tbf: false, netem: false } });
  });

  it('anything else is an error naming the host, not a guess', () => {
    expect(readProbe('h1', { exitCode: 1, stderr: 'unshare: unshare failed: Operation not permitted\n' }, 3)).toEqual({
      ok: false,
      host: 'h1',
      ms: 3,
      error: 'cannot probe the qdiscs of host "h1" (unshare --net tc): unshare: unshare failed: Operation not permitted',
    });
    expect(readProbe('h1', { exitCode: 1, stderr: 'Error: Operation not permitted.\nCommand failed -:2\n' }, 3)).toMatchObject({ ok: false, error: 'cannot probe the netem qdisc of host "h1": Error: Operation not permitted.' });
    expect(readProbe('h1', { exitCode: 127, stderr: '' }, 3)).toMatchObject({ ok: false, error: expect.stringContaining('exit code 127') });
  });
});

describe('probeQdiscs and probeOncePerMachine', () => {
  it('one process through the runner, the batch on stdin', async () => {
    const runner = new ScriptedRunner('h1', 'local', NO_NETEM);
    expect(await probeQdiscs(runner)).toMatchObject({ ok: true, host: 'h1', has: { tbf: true, netem: false } });
    expect(runner.calls).toEqual([{ argv: PROBE_ARGV, opts: { input: PROBE_INPUT } }]);
    expect(PROBE_INPUT.split('\n')).toEqual(['qdisc replace dev lo root tbf rate 1mbit burst 10kb limit 20kb', 'qdisc replace dev lo root netem delay 1ms', '']);
  });

  it('hosts on one machine share one probe; each answer names its own host', async () => {
    const a = new ScriptedRunner('h1', 'local', NO_NETEM);
    const b = new ScriptedRunner('h2', 'local', NO_NETEM);
    const c = new ScriptedRunner('far', 'ssh far', { exitCode: 0, stdout: '', stderr: '' });
    const probe = probeOncePerMachine();
    const [ra, rb, rc] = await Promise.all([probe(a), probe(b), probe(c)]);
    expect(a.calls.length + b.calls.length).toBe(1);
    expect(c.calls.length).toBe(1);
    expect([ra.host, rb.host, rc.host]).toEqual(['h1', 'h2', 'far']);
    expect(rc).toMatchObject({ has: { netem: true } });
  });
});

describe('probeProblems', () => {
  it('names the host and the module for each kind needed and missing', () => {
    const probe = readProbe('h1', NO_NETEM, 1);
    expect(probeProblems(probe, ['tbf', 'netem', 'netem'])).toEqual([
      {
        message: 'the kernel of host "h1" has no sch_netem (the netem qdisc): delay, jitter, loss, duplicate, corrupt and reorder need it',
        hint: 'load it with "modprobe sch_netem", or install the kernel\'s extra modules (e.g. Debian\'s linux-modules-extra, RHEL\'s kernel-modules-extra)',
      },
    ]);
    expect(probeProblems(probe, ['tbf'])).toEqual([]);
    expect(missingQdiscMessage('h2', 'tbf')).toBe('the kernel of host "h2" has no sch_tbf (the tbf qdisc): a rate without delay or loss needs it');
  });
});
