// A run stopped without a failed step: by a signal (the abort signal of Ctrl-C), or by a
// journal that cannot be written (a full or read-only state directory). And the rollback's own
// journal lines. A fake runner stands in for ip.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan, Step } from '../planner/types.js';
import type { Runner, RunOptions, RunResult } from '../state/runner.js';
import { execute } from './execute.js';
import { Journal, type JournalEntry, type JournalHeader } from './journal.js';

/** Records every batch (its namespace and lines); calls `onRun` before answering. */
class RecordingRunner implements Runner {
  readonly host = 'local';
  readonly machine = 'local';
  readonly describe = 'fake';
  readonly batches: { ns: string | null; lines: string[]; force: boolean }[] = [];
  constructor(private readonly onRun: (n: number) => void = () => {}) {}
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.batches.push({ ns: opts.ns ?? null, lines: (opts.input ?? '').split('\n').filter(Boolean), force: argv.includes('-force') });
    this.onRun(this.batches.length);
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async listNetns(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

/** Step i in namespace n<i>, after step i-1: one batch each, one after the other. */
const chain = (count: number): Step[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `local|endpoint.s${i}.eth0|create`,
    host: 'local',
    address: `endpoint.s${i}.eth0`,
    phase: 'create',
    ns: `n${i}`,
    tool: 'ip' as const,
    isDeletion: false,
    action: 'create' as const,
    description: `create n${i}/eth0`,
    do: [['link', 'set', 'eth0', 'up']],
    undo: [{ host: 'local', ns: `n${i}`, tool: 'ip' as const, argv: ['link', 'set', 'eth0', 'down'] }],
    creates: [],
    deletes: [],
    marks: [],
    after: i ? [`local|endpoint.s${i - 1}.eth0|create`] : [],
  }));

const planOf = (steps: Step[]): Plan => ({ topology: 't', changes: [], steps, errors: [], hosts: ['local'], implicitHost: true });
const progressOf = (j: Journal): JournalEntry[] =>
  readFileSync(j.progressPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsnet-stop-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('execute: the abort signal (Ctrl-C)', () => {
  it('starts no new batch, lets the running one finish, and rolls back what was done, journaling the rollback', async () => {
    const controller = new AbortController();
    const runner = new RecordingRunner((n) => n === 2 && controller.abort());
    const journal = new Journal('t', dir);
    const events: string[] = [];
    const result = await execute(planOf(chain(5)), {
      runners: new Map([['local', runner]]),
      readBack: false,
      journal,
      signal: controller.signal,
      onEvent: (e) => e.type === 'rollback-start' && events.push(`${e.reason}:${e.steps}`),
    });
    expect(result.ok).toBe(false);
    expect(result.failure).toBeUndefined();
    expect(result.stopped).toEqual({ kind: 'interrupted' });
    expect(result.completed.map((s) => s.ns)).toEqual(['n0', 'n1']);
    expect(events).toEqual(['interrupted:2']);
    expect(runner.batches.filter((b) => !b.force).map((b) => b.ns)).toEqual(['n0', 'n1']);
    expect(runner.batches.filter((b) => b.force).map((b) => `${b.ns}: ${b.lines.join('; ')}`)).toEqual(['n1: link set eth0 down', 'n0: link set eth0 down']);
    const types = progressOf(journal).map((e) => e.type);
    expect(types).toEqual(['started', 'batch', 'started', 'batch', 'rollback', 'undo-started', 'undo-done', 'undo-started', 'undo-done', 'rolled-back']);
    const undo = progressOf(journal).filter((e) => e.type === 'undo-started') as { steps: string[] }[];
    expect(undo.map((e) => e.steps)).toEqual([['local|endpoint.s1.eth0|create'], ['local|endpoint.s0.eth0|create']]);
  });

  it('changes nothing when the signal comes after the last batch started', async () => {
    const controller = new AbortController();
    const runner = new RecordingRunner((n) => n === 3 && controller.abort());
    const result = await execute(planOf(chain(3)), { runners: new Map([['local', runner]]), readBack: false, signal: controller.signal });
    expect(result.ok).toBe(true);
    expect(runner.batches.filter((b) => b.force)).toEqual([]);
  });
});

/** A journal whose progress file takes `room` lines, then fails as a full disk does. */
class FullJournal extends Journal {
  lines = 0;
  constructor(
    dir: string,
    private readonly room: number,
  ) {
    super('t', dir);
  }
  override record(entry: JournalEntry): void {
    if (++this.lines > this.room) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    super.record(entry);
  }
}

describe('execute: a journal that cannot be written', () => {
  it('refuses before anything runs when the header cannot be written, leaving no temporary file', async () => {
    // The progress file's temporary name is taken by a directory: the second write fails.
    mkdirSync(join(dir, 't.progress.tmp'));
    writeFileSync(join(dir, 't.progress.tmp', 'x'), '');
    writeFileSync(join(dir, 't.journal.json'), '{"old":true}');
    const runner = new RecordingRunner();
    const result = await execute(planOf(chain(2)), { runners: new Map([['local', runner]]), readBack: false, journal: new Journal('t', dir) });
    expect(result.ok).toBe(false);
    expect(result.stopped).toMatchObject({ kind: 'journal', before: true, error: expect.stringContaining(`cannot write ${join(dir, 't.journal.json')}`) });
    expect(runner.batches).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['t.journal.json', 't.progress.tmp']);
    expect(readFileSync(join(dir, 't.journal.json'), 'utf8')).toBe('{"old":true}');
  });

  it('stops and rolls back when a progress line cannot be written mid-run, saying why', async () => {
    const runner = new RecordingRunner();
    const journal = new FullJournal(dir, 3); // started, batch, started: the 4th line fails
    const result = await execute(planOf(chain(5)), { runners: new Map([['local', runner]]), readBack: false, journal });
    expect(result.ok).toBe(false);
    expect(result.stopped).toEqual({ kind: 'journal', before: false, error: `cannot write ${journal.progressPath}: no space left on the device (ENOSPC)` });
    expect(result.completed.map((s) => s.ns)).toEqual(['n0', 'n1']);
    expect(runner.batches.filter((b) => b.force).map((b) => b.ns)).toEqual(['n1', 'n0']);
    // The closing line replaced the progress (truncating made room).
    expect(progressOf(journal).map((e) => e.type)).toEqual(['rolled-back']);
  });

  it('does not start a batch whose "started" line cannot be written', async () => {
    const runner = new RecordingRunner();
    const journal = new FullJournal(dir, 2); // started, batch: the next "started" fails
    const result = await execute(planOf(chain(3)), { runners: new Map([['local', runner]]), readBack: false, journal });
    expect(result.stopped).toMatchObject({ kind: 'journal', before: false });
    expect(runner.batches.filter((b) => !b.force).map((b) => b.ns)).toEqual(['n0']);
    expect(runner.batches.filter((b) => b.force).map((b) => b.ns)).toEqual(['n0']);
  });
});

describe('Journal.begin', () => {
  it('writes the header and empty progress and leaves no temporary file', () => {
    const j = new Journal('t', dir);
    j.begin({ topology: 't', file: '', pid: 1, startTime: '', started: '', steps: [] } satisfies JournalHeader);
    expect(readdirSync(dir).sort()).toEqual(['t.journal.json', 't.progress']);
    expect(readFileSync(j.progressPath, 'utf8')).toBe('');
  });
});
