// The build writes the schema's validator as code (scripts/build-validator.mjs), so tsnet starts
// without compiling the schema. It must judge every file exactly as ajv compiling the schema
// does: the examples, the invalid fixtures, and values that reach its runtime helpers.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { AJV_OPTIONS } from '../../src/model/schema-check.js';
import { topologySchema } from '../../src/model/schema.js';
import { ROOT, ensureBuilt } from '../support/build.js';

const files = [
  ...readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'examples', f)),
  ...readdirSync(join(ROOT, 'test', 'fixtures', 'invalid')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'test', 'fixtures', 'invalid', f)),
];

function dataOf(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // YAML syntax fixtures: nothing for the schema to see
  }
}

const summary = (v: ValidateFunction, data: unknown) => ({
  valid: v(data),
  errors: (v.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`).sort(),
});

describe('the precompiled schema validator', () => {
  let precompiled: ValidateFunction;
  const compiled = new Ajv(AJV_OPTIONS).compile(topologySchema);
  beforeAll(async () => {
    ensureBuilt();
    precompiled = ((await import(join(ROOT, 'dist', 'model', 'topology-validator.js'))) as { default: ValidateFunction }).default;
  }, 120_000);

  it('is an ES module with a require() of its own for ajv\'s runtime helpers', () => {
    expect(readFileSync(join(ROOT, 'dist', 'model', 'topology-validator.js'), 'utf8')).toMatch(/createRequire\(import\.meta\.url\)/);
  });

  it('reaches its runtime helpers (maxLength counts characters)', () => {
    const long = { version: 1, name: 'a'.repeat(40) };
    expect(summary(precompiled, long)).toEqual(summary(compiled, long));
    expect(summary(precompiled, long).valid).toBe(false);
  });

  for (const file of files) {
    it(file.slice(ROOT.length + 1), () => {
      const data = dataOf(file);
      if (data === undefined) return;
      expect(summary(precompiled, data)).toEqual(summary(compiled, data));
    });
  }
});
