// Time limits of child processes (src/state/timeout.ts): how long a command may run, and that a
// command running longer is killed with everything it started and comes back as a command whose
// outcome is unknown, naming itself and the limit. The programs here are `sleep` and `sh`: no
// kernel, no network (the kernel suite runs hanging `ip` batches in the lab:
// test/kernel/timeouts.test.ts).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalRunner } from '../../src/state/runner.js';
import { commandText, commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS, TIMEOUT_PER_LINE_MS, UNKNOWN_PROGRESS } from '../../src/state/timeout.js';

/** True while the process runs (a zombie does not count). */
const running = (pid: number): boolean => {
  try {
    return !/^\S+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('command time limits', () => {
  const saved = process.env.TSNET_COMMAND_TIMEOUT;
  afterEach(() => {
    if (saved === undefined) delete process.env.TSNET_COMMAND_TIMEOUT;
    else process.env.TSNET_COMMAND_TIMEOUT = saved;
  });

  it('a base limit, plus a little per batch line; TSNET_COMMAND_TIMEOUT sets the base', () => {
    expect(commandTimeoutMs(undefined, {})).toBe(DEFAULT_COMMAND_TIMEOUT_MS);
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(60_000);
    expect(commandTimeoutMs('link show\naddr show\n\n', {})).toBe(60_000 + 2 * TIMEOUT_PER_LINE_MS);
    expect(commandTimeoutMs(`${'link show\n'.repeat(10_000)}`, {})).toBe(160_000);
    expect(commandTimeoutMs('link show\n', { TSNET_COMMAND_TIMEOUT: '5s' })).toBe(5_010);
    expect(commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: '250ms' })).toBe(250);
    expect(commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: '2m' })).toBe(120_000);
  });

  it('a TSNET_COMMAND_TIMEOUT that is no duration, 0 or over 6h is an error naming it', () => {
    expect(() => commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: 'soon' })).toThrow('TSNET_COMMAND_TIMEOUT: "soon" is not a duration like 30s, 2m or 500ms');
    expect(() => commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: '0' })).toThrow('TSNET_COMMAND_TIMEOUT must be longer than 0s');
    expect(() => commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: '7h' })).toThrow('TSNET_COMMAND_TIMEOUT must be at most 6h');
    expect(commandTimeoutMs(undefined, { TSNET_COMMAND_TIMEOUT: '6h' })).toBe(6 * 3_600_000);
  });

  it('names a command entered into a namespace by the command and the namespace', () => {
    expect(commandText(['nsenter', '--net=/run/netns/lab-a', '--', 'ip', '-json', '-batch', '-'])).toBe('ip -json -batch - in namespace lab-a');
    expect(commandText(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])).toBe('sysctl -q -w net.ipv4.ip_forward=1');
  });

  it('a command that hangs is killed with what it started, and comes back as unknown, naming itself and the limit', async () => {
    process.env.TSNET_COMMAND_TIMEOUT = '400ms';
    const runner = new LocalRunner('local');
    const t0 = Date.now();
    // The shell prints its background child's pid, then waits for ever.
    const res = await runner.run(['sh', '-c', 'sleep 300 & echo $!; wait']);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(res.exitCode).toBe(UNKNOWN_PROGRESS);
    expect(res.stderr).toBe(
      "sh -c sleep 300 & echo $!; wait did not finish within 0.4s and was killed (TSNET_COMMAND_TIMEOUT sets the limit; it was still running, so what it did is not known)",
    );
    const grandchild = Number(res.stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    for (let i = 0; i < 50 && running(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
    expect(running(grandchild), 'the sleep the shell started is killed too').toBe(false);
  });

  it('a command that ends in time is untouched', async () => {
    process.env.TSNET_COMMAND_TIMEOUT = '5s';
    const res = await new LocalRunner('local').run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
  });
});
