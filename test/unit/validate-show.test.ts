// tsnet validate --show of several files prints one YAML stream: a document per valid file, each
// opened with "---", that parses back into the same topologies --json --show gives.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT, ensureBuilt } from '../support/build.js';

const CLI = join(ROOT, 'bin', 'tsnet.js');
const exec = promisify(execFile);
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join('examples', f));

describe('tsnet validate --show', () => {
  beforeAll(ensureBuilt, 120_000);

  it('prints several files as a multi-document YAML stream, one document per file, in order', async () => {
    expect(EXAMPLES.length).toBeGreaterThan(2);
    const { stdout } = await exec(process.execPath, [CLI, 'validate', '--show', ...EXAMPLES], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    const docs = parseAllDocuments(stdout);
    expect(Array.isArray(docs)).toBe(true);
    const list = docs as Exclude<typeof docs, { empty: true }>;
    for (const d of list) expect(d.errors).toEqual([]);
    expect(list).toHaveLength(EXAMPLES.length);
    const json = await exec(process.execPath, [CLI, 'validate', '--json', '--show', ...EXAMPLES], { cwd: ROOT });
    const files = (JSON.parse(json.stdout) as { files: { file: string; topology: unknown }[] }).files;
    expect(list.map((d) => d.toJS())).toEqual(files.map((f) => f.topology));
    // Each document says which file it comes from.
    expect([...stdout.matchAll(/^---\n# (.*): the normalized topology/gm)].map((m) => m[1])).toEqual(EXAMPLES);
  });
});
