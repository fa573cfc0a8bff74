// Bad input never throws: every value of every example, replaced by values of the wrong kind,
// gives diagnostics (each with a position), never an exception. And what the kernel holds
// (`held`), however odd, never breaks normalize().
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadText } from '../../src/model/load.js';
import type { Held } from '../../src/model/normalize.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

type Path = (string | number)[];

/** Every path in a value, parents before children. */
function* paths(value: unknown, path: Path = []): Generator<Path> {
  if (path.length) yield path;
  if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* paths(v, [...path, i]);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* paths(v, [...path, k]);
}

function replaced(root: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let at = copy;
  for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy;
}

const WRONG: unknown[] = [null, 1.5, 'x', '198.18.0.0/24', [], { a: 1 }];

describe('loadText on mutated examples', () => {
  for (const f of examples) {
    it(`never throws for ${f}`, () => {
      const data = parse(readFileSync(join(EXAMPLES, f), 'utf8')) as unknown;
      const problems: string[] = [];
      let cases = 0;
      for (const path of paths(data)) {
        for (const value of WRONG) {
          cases++;
          const where = `${path.join('/')} = ${JSON.stringify(value)}`;
          try {
            const r = loadText(f, stringify(replaced(data, path, value)));
            for (const d of r.diagnostics) if (!d.start) problems.push(`${where}: ${d.code} has no position`);
          } catch (err) {
            problems.push(`${where}: threw ${(err as Error).message}`);
          }
        }
      }
      expect(cases).toBeGreaterThan(50);
      expect(problems).toEqual([]);
    });
  }
});

describe('normalize with odd held state', () => {
  const odd = ['', 'x', '1.2.3.4/99', '::/0', '0.0.0.0/0', '2001:db8::5/64', '172.17.0.1/16', '198.18.10.1/24', '198.18.60.0/24'];

  for (const f of examples) {
    it(`keeps ${f} valid whatever the kernel is said to hold`, () => {
      const text = readFileSync(join(EXAMPLES, f), 'utf8');
      const base = loadText(f, text).topology!;
      const endpoints = [...base.sandboxes.values()].flatMap((s) => s.endpoints.map((e) => e.address));
      for (const junk of odd) {
        const held: Held = {
          endpoints: new Map(endpoints.map((e) => [e, [junk, junk]])),
          subnets: new Map([...base.networks.keys()].map((n) => [n, [junk]])),
          hostRoutes: new Map([...base.hosts.keys()].map((h) => [h, [junk]])),
        };
        const r = loadText(f, text, held);
        expect(r.diagnostics, `${f} with ${junk}`).toEqual([]);
        expect(r.topology).toBeDefined();
      }
    });
  }
});
