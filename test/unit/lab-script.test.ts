// scripts/lab where no namespace can be made (an `unshare` that always fails stands in for a
// machine without root or user namespaces): it must refuse to run a command on the real network,
// and only the test runner, which asks for it with TSNET_LAB_FALLBACK=skip, may run outside
// (so the kernel tests report skipped with the reason).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const LAB = join(import.meta.dirname, '..', '..', 'scripts', 'lab');
const bin = mkdtempSync(join(tmpdir(), 'tsnet-lab-test-'));
writeFileSync(join(bin, 'unshare'), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n');
chmodSync(join(bin, 'unshare'), 0o755);
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function lab(env: Record<string, string>) {
  const { TSNET_LAB: _, TSNET_LAB_FALLBACK: __, ...rest } = process.env;
  return spawnSync('sh', [LAB, 'sh', '-c', 'echo "ran with TSNET_LAB=$TSNET_LAB"'], {
    env: { ...rest, ...env, PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
}

describe('scripts/lab without a way to make a namespace', () => {
  it('refuses to run the command, exit 1, naming the reason', () => {
    const r = lab({});
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('cannot create a network namespace here');
    expect(r.stderr).toContain('refusing to run sh outside a lab');
  });

  it('runs it outside, marked unavailable, only when the test runner asks with TSNET_LAB_FALLBACK=skip', () => {
    const r = lab({ TSNET_LAB_FALLBACK: 'skip' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ran with TSNET_LAB=unavailable:cannot create a network namespace here/);
  });
});
