// tsnet validate FILE...: check files without touching the kernel.
import { stringify } from 'yaml';
import { hasErrors, type Diagnostic } from '../../model/diagnostics.js';
import { loadFile } from '../../model/load.js';
import { topologyToPlain } from '../../model/plain.js';
import { ExitError } from '../errors.js';
import { JSON_FORMAT_VERSION, printDiagnostics, writeJson } from '../output.js';

export interface ValidateOptions {
  json?: boolean;
  show?: boolean;
  quiet?: boolean;
}

export async function validateCommand(files: string[], opts: ValidateOptions): Promise<void> {
  const results = await Promise.all(files.map((f) => loadFile(f)));
  const allDiags: Diagnostic[] = results.flatMap((r) => r.diagnostics);
  const failed = hasErrors(allDiags);
  if (opts.json) {
    writeJson({
      format_version: JSON_FORMAT_VERSION,
      valid: !failed,
      files: results.map((r) => ({
        file: r.source.file,
        valid: !hasErrors(r.diagnostics),
        diagnostics: r.diagnostics,
        ...(opts.show && r.topology ? { topology: topologyToPlain(r.topology) } : {}),
      })),
    });
  } else {
    printDiagnostics(allDiags, new Map(results.map((r) => [r.source.file, r.source.text])));
    for (const r of results) {
      if (!r.topology) continue;
      if (opts.show) {
        // One YAML document per file, each opened with "---": several files make one valid stream.
        process.stdout.write(`---\n# ${r.source.file}: the normalized topology (defaults, kernel names and addresses filled in)\n`);
        process.stdout.write(stringify(topologyToPlain(r.topology), { lineWidth: 0 }));
      } else if (!opts.quiet) {
        const t = r.topology;
        process.stdout.write(
          `${r.source.file}: valid (${t.networks.size} network${t.networks.size === 1 ? '' : 's'}, ${t.sandboxes.size} sandbox${t.sandboxes.size === 1 ? '' : 'es'}, ${t.hosts.size} host${t.hosts.size === 1 ? '' : 's'})\n`,
        );
      }
    }
  }
  if (failed) throw new ExitError('invalid topology', 1, true);
}
