// JSON output helpers: schemas/plan.schema.json compiled with ajv (the schema users validate
// tsnet's plans with), and the one-object-per-line output of apply and destroy --json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';

const ROOT = join(import.meta.dirname, '..', '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'plan.schema.json'), 'utf8')) as Record<string, unknown>;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

/** Why `doc` is not a plan as schemas/plan.schema.json says (empty: it is one). */
export function planSchemaErrors(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

export interface JsonLine {
  format_version: string;
  type: string;
  [key: string]: unknown;
}

/** stdout of apply/destroy --json: every line must be one JSON object (throws naming the line). */
export function jsonLines(stdout: string): JsonLine[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as JsonLine;
      } catch {
        throw new Error(`line ${i + 1} of stdout is not JSON: ${l}`);
      }
    });
}

/** A JSON format version tsnet 1.x readers accept. */
export const FORMAT_1X = /^1\.\d+$/;
