// How `tsnet exec FILE [SANDBOX...] [-- COMMAND ARGS...]` tells sandbox names from the command:
// by "--" and nothing else. Everything after the first "--" is the command, passed on as it is
// (its options are never read as tsnet's); everything before it, besides tsnet's own options,
// is FILE and sandbox names. Without "--" there is no command: one name opens an interactive
// shell; several names are an error that shows where "--" goes. Guessing instead (the first
// word after a name is a command?) would run `tsnet exec f a b` in the wrong place.

export interface ExecArgs {
  names: string[];
  /** undefined: no "--" (an interactive shell). */
  command?: string[];
}

export type Split = { ok: true; args: ExecArgs } | { ok: false; error: string };

/**
 * `operands`: what commander left after FILE (names and command, without "--"); `raw`: the
 * arguments of the exec command as typed (from just after the word "exec"), to see where "--" was.
 */
export function splitExecArgs(operands: readonly string[], raw: readonly string[]): Split {
  const dash = raw.indexOf('--');
  if (dash < 0) {
    if (operands.length > 1) {
      const [first, ...rest] = operands;
      return {
        ok: false,
        error: `several names and no "--": put the command after "--" (tsnet exec FILE ${first} -- ${rest.join(' ')}), or give the sandboxes a command (tsnet exec FILE ${operands.join(' ')} -- COMMAND)`,
      };
    }
    return { ok: true, args: { names: [...operands] } };
  }
  const command = raw.slice(dash + 1);
  if (!command.length) return { ok: false, error: 'nothing after "--": give the command to run, or leave out "--" for an interactive shell' };
  if (command.length > operands.length) return { ok: false, error: 'FILE and the sandbox names come before "--", the command after it' };
  return { ok: true, args: { names: operands.slice(0, operands.length - command.length), command } };
}
