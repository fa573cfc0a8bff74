// The few error classes the CLI catches in one place (changesets' habit): an ExitError carries
// its code and a message for the user; anything else is a bug and says so.
import { writeFileSync } from 'node:fs';

export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** Already printed (e.g. diagnostics): the catcher prints nothing more. */
    readonly printed = false,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/** Exit codes of every command; the README lists them. */
export const EXIT = {
  ok: 0,
  error: 1,
  /** `plan --detailed-exitcode` only: the plan has changes. */
  changes: 2,
  /** apply/destroy stopped by Ctrl-C (SIGINT): rolled back, or stopped at once by a second one. */
  interrupted: 130,
  /** apply/destroy stopped by SIGTERM. */
  terminated: 143,
} as const;

const WRITE_PROBLEM: Record<string, string> = {
  ENOENT: 'no such directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is not a directory',
};

/** Writes a file the user named (--out), or fails with an ExitError saying why in words. */
export function writeOut(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ExitError(`cannot write ${path}: ${WRITE_PROBLEM[e.code ?? ''] ?? e.message}`);
  }
}
