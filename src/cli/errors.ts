// The few error classes the CLI catches in one place (changesets' habit): an ExitError carries
// its code and a message for the user; anything else is a bug and says so.

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
} as const;
