// Which batch directories a run removes (src/state/fanout.ts): only those untouched for a day,
// whatever pid their name holds; never a fresh one, a file, or anything not tsnet's.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BATCH_DIR_MAX_AGE_MS, removeDeadBatchDirs } from '../../src/state/fanout.js';

describe('removeDeadBatchDirs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-batchdirs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const age = (path: string, ms: number) => {
    const t = (Date.now() - ms) / 1000;
    utimesSync(path, t, t);
  };

  it('removes directories untouched for a day, and nothing else', () => {
    const day = BATCH_DIR_MAX_AGE_MS;
    expect(day).toBe(24 * 3_600_000);
    for (const d of ['tsnet-batch-old', 'tsnet-batch-999999-old', 'tsnet-batch-fresh', 'tsnet-batch-1-fresh', 'someone-else']) {
      mkdirSync(join(dir, d));
      writeFileSync(join(dir, d, '0.batch'), 'link show\n');
    }
    writeFileSync(join(dir, 'tsnet-batch-file'), '');
    age(join(dir, 'tsnet-batch-old'), day + 60_000);
    age(join(dir, 'tsnet-batch-999999-old'), day + 60_000); // a pid nobody has: not the reason
    age(join(dir, 'tsnet-batch-fresh'), day - 60_000);
    age(join(dir, 'someone-else'), 10 * day);
    age(join(dir, 'tsnet-batch-file'), 10 * day);
    removeDeadBatchDirs(dir);
    expect(readdirSync(dir).sort()).toEqual(['someone-else', 'tsnet-batch-1-fresh', 'tsnet-batch-file', 'tsnet-batch-fresh']);
  });

  it('a directory that cannot be read is no error', () => {
    expect(() => removeDeadBatchDirs(join(dir, 'no-such-dir'))).not.toThrow();
  });
});
