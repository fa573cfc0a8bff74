// Loading a topology: text -> YAML (syntax) -> schema -> semantic rules -> normalize.
// Every stage adds diagnostics; all of them are returned together, none is thrown.
import { readFile } from 'node:fs/promises';
import { collapseRepeats, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { normalize, type Held } from './normalize.js';
import { prepare, type Prepared } from './prepare.js';
import { runRules } from './rules.js';
import { checkSchema } from './schema-check.js';
import { SourceFile } from './source.js';
import type { Topology, TopologyFile } from './types.js';

/** Sorted, with repeats at one place folded into one (an alias reached by many errors). */
const ordered = (diags: Diagnostic[]): Diagnostic[] => sortDiagnostics(collapseRepeats(diags));

export interface LoadResult {
  source: SourceFile;
  /** The checked file, ready to normalize again with what the kernel holds (renormalize). */
  prepared?: Prepared;
  /** Present when there are no errors. */
  topology?: Topology;
  /** The file as written, when it parsed and passed the schema. */
  file?: TopologyFile;
  diagnostics: Diagnostic[];
}

/** Checks and normalizes topology text. `held` is what the kernel holds now (empty for validate). */
export function loadText(file: string, text: string, held: Held = {}): LoadResult {
  const source = new SourceFile(file, text);
  if (source.syntax.length) return { source, diagnostics: ordered(source.syntax) };
  const data = source.toJS();
  const saved = savedPlanOf(data);
  if (saved !== undefined) {
    return {
      source,
      diagnostics: [
        {
          severity: 'error',
          code: 'saved-plan',
          message: `${file} is a saved plan (tsnet plan --out), not a topology file: only "tsnet apply ${file}" takes it${saved ? `; the topology it was made from is ${saved}` : ''}`,
          file,
          path: '/kind',
          ...(source.locate(['kind']) ?? {}),
        },
      ],
    };
  }
  const schema = checkSchema(source, data);
  const prepared = prepare(data as TopologyFile, schema.brokenPaths);
  const diagnostics = [...schema.diagnostics, ...runRules(prepared, source)];
  if (hasErrors(diagnostics)) return { source, diagnostics: ordered(diagnostics) };
  const normalized = normalize(prepared, source, held);
  const all = ordered([...diagnostics, ...normalized.diagnostics]);
  return {
    source,
    prepared,
    file: data as TopologyFile,
    diagnostics: all,
    ...(normalized.topology && !hasErrors(all) ? { topology: normalized.topology } : {}),
  };
}

/** What a saved plan (tsnet plan --out) says it is. */
export const SAVED_PLAN_KIND = 'tsnet-plan';

/** The topology file a saved plan names ('' when it names none); undefined when `data` is no saved plan. */
function savedPlanOf(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object' || (data as { kind?: unknown }).kind !== SAVED_PLAN_KIND) return undefined;
  const file = (data as { file?: unknown }).file;
  return typeof file === 'string' ? file : '';
}

export async function loadFile(file: string, held: Held = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const source = new SourceFile(file, '');
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a topology file' : code === 'EACCES' ? 'permission denied' : String((err as Error).message);
    return { source, diagnostics: [{ severity: 'error', code: 'read-file', message: `cannot read ${file}: ${message}`, file }] };
  }
  return loadText(file, text, held);
}

/** Normalizes a loaded file again, keeping what the kernel holds (addresses, picked subnets). */
export function renormalize(result: LoadResult, held: Held): LoadResult {
  if (!result.prepared) return result;
  const normalized = normalize(result.prepared, result.source, held);
  const diagnostics = ordered([...result.diagnostics.filter((d) => d.severity !== 'error'), ...normalized.diagnostics]);
  const { topology: _old, ...rest } = result;
  return { ...rest, diagnostics, ...(normalized.topology && !hasErrors(diagnostics) ? { topology: normalized.topology } : {}) };
}
