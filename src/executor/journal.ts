// The journal of an apply: the plan written before anything runs, then one line of progress
// per finished batch. A journal without a final line belongs to an apply that was killed.
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Step } from '../planner/types.js';

export const stateDir = (): string => process.env.TSNET_STATE_DIR ?? '/run/tsnet';

/**
 * 3: each step says what it makes and marks (creates, marks). 2: the progress holds a
 * "started" line before each batch. A journal without a version is older: every step of it
 * may have begun.
 */
export const JOURNAL_VERSION = 3;

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
}

export type JournalEntry =
  /** Written before a batch (or a fanned-out group of batches) starts. */
  | { type: 'started'; steps: string[]; at: string }
  | { type: 'batch'; done: string[]; at: string }
  | { type: 'failed'; step: string; error: string; at: string }
  | { type: 'rolled-back'; undone: string[]; errors: string[]; at: string }
  | { type: 'finished'; at: string };

export interface JournalRecord {
  header: JournalHeader;
  entries: JournalEntry[];
}

export class Journal {
  readonly path: string;
  private readonly progressPath: string;

  constructor(readonly topology: string, dir = stateDir()) {
    this.path = join(dir, `${topology}.journal.json`);
    this.progressPath = join(dir, `${topology}.progress`);
  }

  begin(header: JournalHeader): void {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(header));
    // The new header first: a kill in between must not pair an old, finished run's header with
    // empty progress (that would read as an interrupted run).
    renameSync(tmp, this.path);
    writeFileSync(this.progressPath, '');
  }

  record(entry: JournalEntry): void {
    appendFileSync(this.progressPath, `${JSON.stringify(entry)}\n`);
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

  /** The last run's journal, or undefined when there has been none. */
  read(): JournalRecord | undefined {
    if (!existsSync(this.path)) return undefined;
    try {
      const header = JSON.parse(readFileSync(this.path, 'utf8')) as JournalHeader;
      const entries = existsSync(this.progressPath)
        ? readFileSync(this.progressPath, 'utf8')
            .split('\n')
            .filter(Boolean)
            .flatMap((l) => {
              try {
                return [JSON.parse(l) as JournalEntry];
              } catch {
                return []; // a line cut short by a kill
              }
            })
        : [];
      return { header, entries };
    } catch {
      return undefined;
    }
  }
}

/** True when the journal's run ended (finished or rolled back) rather than being killed. */
export const journalClosed = (r: JournalRecord): boolean => r.entries.some((e) => e.type === 'finished' || e.type === 'rolled-back');

/** The ids of the steps a journal records as started (a batch of them began to run). */
export const journalStarted = (r: JournalRecord): string[] => r.entries.flatMap((e) => (e.type === 'started' ? e.steps : []));

/** The ids a journal records as done. */
export const journalDone = (r: JournalRecord): string[] => r.entries.flatMap((e) => (e.type === 'batch' ? e.done : []));
