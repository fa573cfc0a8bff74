// Golden plan cases (test/support/golden.ts describes the folder layout). A new case is a new
// folder. To write expected.txt for a new or deliberately changed case:
//   UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/plan-golden.test.ts
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLAN_CASES, runCase } from '../support/golden.js';

const cases = existsSync(PLAN_CASES) ? readdirSync(PLAN_CASES).filter((d) => existsSync(join(PLAN_CASES, d, 'topology.yaml'))).sort() : [];

describe('golden plans', () => {
  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });
  for (const name of cases) {
    it(name, () => {
      const dir = join(PLAN_CASES, name);
      const actual = runCase(dir);
      const file = join(dir, 'expected.txt');
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`${name}: expected.txt is missing; write it with UPDATE_GOLDEN=1 and review it`);
        writeFileSync(file, actual);
      }
      expect(actual).toBe(readFileSync(file, 'utf8'));
    });
  }
});
