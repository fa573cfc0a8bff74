// The journal of an apply: the plan written before anything runs, then one line of progress
// before and after each batch, and, on failure, the rollback's: before and after each batch of
// undo commands. A journal without a final line belongs to a run that was killed.
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AdoptedObject, Step } from '../planner/types.js';

export const stateDir = (): string => process.env.TSNET_STATE_DIR ?? '/run/tsnet';

/**
 * 5: a file step's write is kept without the content (its tool's journalArgv: the next run
 * recognises tsnet's files by their marker line, never from the journal). 4: the rollback is journaled (rollback, undo-started, undo-done lines), and the header keeps
 * what the plan adopted from an earlier run's journal. 3: each step says what it makes and marks (creates, marks). 2: the progress holds a
 * "started" line before each batch. A journal without a version is older: every step of it
 * may have begun.
 */
export const JOURNAL_VERSION = 5;

export interface JournalHeader {
  version?: number;
  topology: string;
  file: string;
  pid: number;
  /** The process's start time (proc.ts): with the pid, tells a live run from a killed one. */
  startTime: string;
  started: string;
  /** creates and marks: from version 3 on. */
  steps: (Pick<Step, 'id' | 'host' | 'ns' | 'tool' | 'address' | 'description' | 'do' | 'undo'> & Partial<Pick<Step, 'creates' | 'marks'>>)[];
  /**
   * Unmarked objects the plan took over from an earlier run's journal (half made by a killed
   * run), with the mark each gets: recognised as this topology's after this run too, until
   * marked, also when this run is rolled back or killed before marking them (version 4).
   */
  adopted?: AdoptedObject[];
  /**
   * The highest ifindex per host and namespace ('' = the host's own stack) before the run: a link
   * found unmarked later under a name the run makes is its work only with a higher one (version 4).
   */
  ifindexes?: Record<string, Record<string, number>>;
}



export type JournalEntry =
  /** Written before a batch (or a fanned-out group of batches) starts. */
  | { type: 'started'; steps: string[]; at: string }
  | { type: 'batch'; done: string[]; at: string }
  | { type: 'failed'; step: string; error: string; at: string }
  /** Written before the rollback: the steps it undoes, in order. */
  | { type: 'rollback'; steps: string[]; at: string }
  /** Before and after each batch of undo commands: the steps whose undo the batch holds. */
  | { type: 'undo-started'; steps: string[]; at: string }
  | { type: 'undo-done'; steps: string[]; at: string }
  | { type: 'rolled-back'; undone: string[]; errors: string[]; at: string }
  | { type: 'finished'; at: string };

export interface JournalRecord {
  header: JournalHeader;
  entries: JournalEntry[];
}

export class Journal {
  readonly path: string;
  readonly progressPath: string;

  constructor(readonly topology: string, dir = stateDir()) {
    this.path = join(dir, `${topology}.journal.json`);
    this.progressPath = join(dir, `${topology}.progress`);
  }

  /**
   * Writes the header and empty progress, each to a temporary file first, then renames them in
   * place: a full or read-only directory fails here, before anything runs, and leaves neither a
   * temporary file nor a half-written journal (the last run's journal stays as it was).
   */
  begin(header: JournalHeader): void {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    const progressTmp = `${this.progressPath}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(header));
      writeFileSync(progressTmp, '');
    } catch (err) {
      rmSync(tmp, { force: true });
      rmSync(progressTmp, { force: true });
      throw err;
    }
    // The new header first: a kill in between must not pair an old, finished run's header with
    // empty progress (that would read as an interrupted run).
    renameSync(tmp, this.path);
    renameSync(progressTmp, this.progressPath);
  }

  record(entry: JournalEntry): void {
    appendFileSync(this.progressPath, `${JSON.stringify(entry)}\n`);
  }

  /** Replaces the progress by these lines (atomically; used when appending found no room). */
  replaceProgress(entries: readonly JournalEntry[]): void {
    const tmp = `${this.progressPath}.tmp`;
    try {
      // Truncating first frees the room the old lines took.
      writeFileSync(this.progressPath, '');
      writeFileSync(tmp, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      renameSync(tmp, this.progressPath);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /**
   * True when there is no journal or its run ended (finished or rolled back): looks at the
   * progress lines only, not at the plan, which is large for large topologies.
   */
  settled(): boolean {
    if (!existsSync(this.path)) return true;
    try {
      const progress = readFileSync(this.progressPath, 'utf8');
      return /"type":"(finished|rolled-back)"/.test(progress);
    } catch {
      return false;
    }
  }

  /** True when the last run's progress ends with a rollback (its header may carry adoptions). */
  rolledBack(): boolean {
    try {
      return readFileSync(this.progressPath, 'utf8').includes('"type":"rolled-back"');
    } catch {
      return false;
    }
  }

  /** The last run's journal, or undefined when there has been none or it cannot be read (see inspect()). */
  read(): JournalRecord | undefined {
    return this.inspect().record;
  }

  /**
   * The last run's journal, and what is wrong with it when it cannot be trusted: a header that
   * is not the JSON tsnet wrote (truncated, garbage), a progress line in the middle that is not
   * an entry. Only the last progress line may be cut short (a kill while appending it).
   */
  inspect(): { record?: JournalRecord; damage?: string } {
    if (!existsSync(this.path)) return {};
    let header: JournalHeader;
    try {
      header = JSON.parse(readFileSync(this.path, 'utf8')) as JournalHeader;
    } catch (err) {
      return { damage: `${this.path} cannot be read: ${(err as Error).message}` };
    }
    if (typeof header !== 'object' || header === null || !Array.isArray(header.steps) || typeof header.pid !== 'number') {
      return { damage: `${this.path} is not a journal of tsnet (no list of steps)` };
    }
    let text = '';
    try {
      text = existsSync(this.progressPath) ? readFileSync(this.progressPath, 'utf8') : '';
    } catch (err) {
      return { damage: `${this.progressPath} cannot be read: ${(err as Error).message}` };
    }
    const lines = text.split('\n');
    const entries: JournalEntry[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
      try {
        const e = JSON.parse(lines[i]!) as JournalEntry;
        if (typeof e?.type !== 'string') throw new Error('not an entry');
        entries.push(e);
      } catch {
        // A line cut short by a kill is the last one, without its newline.
        if (i === lines.length - 1) continue;
        return { damage: `${this.progressPath} line ${i + 1} is not a journal entry (${JSON.stringify(lines[i]!.slice(0, 40))})` };
      }
    }
    return { record: { header, entries } };
  }
}

/** True when the journal's run ended (finished or rolled back) rather than being killed. */
export const journalClosed = (r: JournalRecord): boolean => r.entries.some((e) => e.type === 'finished' || e.type === 'rolled-back');

/** The ids of the steps a journal records as started (a batch of them began to run). */
export const journalStarted = (r: JournalRecord): string[] => r.entries.flatMap((e) => (e.type === 'started' ? e.steps : []));

/** True when the journal's run ended by a rollback. */
export const journalRolledBack = (r: JournalRecord): boolean => r.entries.some((e) => e.type === 'rolled-back');

/** True when the journal's run began to roll back (it failed, or was stopped). */
export const journalRollingBack = (r: JournalRecord): boolean => r.entries.some((e) => e.type === 'rollback');

/** The ids of the steps whose undo commands began to run. */
export const journalUndoBegun = (r: JournalRecord): string[] => r.entries.flatMap((e) => (e.type === 'undo-started' ? e.steps : []));

/** The ids a journal records as done. */
export const journalDone = (r: JournalRecord): string[] => r.entries.flatMap((e) => (e.type === 'batch' ? e.done : []));
