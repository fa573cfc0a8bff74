// Turns the engine's failures into what the user sees: diagnostics, or one line, and exit 1.
import { InvalidTopologyError, StateReadError } from '../engine/index.js';
import { ExitError } from './errors.js';
import { isPermissionError, missingCapabilities, needsRoot } from './privileges.js';
import { printDiagnostics, writeJson, JSON_FORMAT_VERSION } from './output.js';

/**
 * Runs `fn`, turning the engine's failures into ExitErrors. `verb` (plan, show, ...) names the
 * command in the message for a read refused for want of root.
 */
export async function withEngineErrors<T>(json: boolean | undefined, fn: () => Promise<T>, verb = 'tsnet'): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StateReadError && isPermissionError(err.message)) {
      // Not root here: say that, as apply does, rather than nsenter's or nft's own words. (A
      // refusal on a remote host, where this process is root, keeps its message.)
      const missing = missingCapabilities();
      if (missing.length) err = new StateReadError(err.host, needsRoot(verb, missing, 'read network namespaces and nftables'));
    }
    if (err instanceof InvalidTopologyError) {
      if (json) writeJson({ format_version: JSON_FORMAT_VERSION, valid: false, diagnostics: err.diagnostics });
      else printDiagnostics(err.diagnostics, err.sources);
      throw new ExitError('invalid topology', 1, true);
    }
    if (err instanceof StateReadError) {
      if (json) writeJson({ format_version: JSON_FORMAT_VERSION, error: { kind: 'read', host: err.host, message: err.message } });
      throw new ExitError(err.message, 1, Boolean(json));
    }
    if ((err as Error)?.name === 'SshError') throw new ExitError((err as Error).message, 1);
    throw err;
  }
}
