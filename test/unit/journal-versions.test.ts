// The journal of a killed apply, as the next plan reads it (interruptedApply): a journal of this
// version says which steps began; an older one (no version, no "started" lines) does not, and
// then every one of its steps may have begun.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interruptedApply } from '../../src/engine/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsnet-journal-'));
const before = process.env.TSNET_STATE_DIR;
beforeAll(() => {
  process.env.TSNET_STATE_DIR = dir;
});
afterAll(() => {
  if (before === undefined) delete process.env.TSNET_STATE_DIR;
  else process.env.TSNET_STATE_DIR = before;
  rmSync(dir, { recursive: true, force: true });
});

const step = (id: string) => ({ id, host: 'local', ns: null, tool: 'ip', address: id.split('|')[1], description: id, do: [['netns', 'add', 'j-a']], undo: [] });
/** A journal of a process that is gone (pid far above any real one). */
const write = (topology: string, header: Record<string, unknown>, progress: string) => {
  writeFileSync(join(dir, `${topology}.journal.json`), JSON.stringify({ topology, file: '', pid: 999_999_999, startTime: '', started: '2026-01-01T00:00:00.000Z', steps: [step('local|sandbox.a|create'), step('local|sandbox.b|create')], ...header }));
  writeFileSync(join(dir, `${topology}.progress`), progress);
};

describe('interruptedApply', () => {
  it('version 2: only the steps whose batch started have begun', () => {
    write('jv2', { version: 2 }, `${JSON.stringify({ type: 'started', steps: ['local|sandbox.a|create'], at: '' })}\n`);
    expect(interruptedApply('jv2')).toMatchObject({ done: [], begun: ['local|sandbox.a|create'] });
  });

  it('version 2, killed before its first batch: nothing has begun', () => {
    write('jv2none', { version: 2 }, '');
    expect(interruptedApply('jv2none')).toMatchObject({ done: [], begun: [] });
  });

  it('an older journal (no version): every step may have begun', () => {
    write('jv1', {}, '');
    expect(interruptedApply('jv1')).toMatchObject({ begun: ['local|sandbox.a|create', 'local|sandbox.b|create'] });
  });
});
