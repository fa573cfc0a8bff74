// Every invalid topology in test/fixtures/invalid produces exactly the error diagnostics its
// .expected.json lists (test/fixtures/invalid/README.md describes the format), each with a file,
// line and column; and the CLI reports them with exit code 1, without a stack trace.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import type { Diagnostic } from '../../src/model/diagnostics.js';
import { loadFile } from '../../src/model/load.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'test', 'fixtures', 'invalid');
const CLI = join(ROOT, 'bin', 'tsnet.js');
const run = promisify(execFile);

interface Expected {
  code: string;
  line: number;
  hint?: string;
}

const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

const expectedOf = (fixture: string): Expected[] =>
  JSON.parse(readFileSync(join(DIR, fixture.replace(/\.yaml$/, '.expected.json')), 'utf8')) as Expected[];

const key = (d: { code: string; line?: number }) => `${d.code}@${d.line ?? '?'}`;
const keys = (list: { code: string; line?: number }[]) => list.map(key).sort();
const errorsOf = (diags: readonly Diagnostic[]) =>
  diags.filter((d) => d.severity === 'error').map((d) => ({ code: d.code, line: d.start?.line }));

/** The "# error: code" and "# error@N: code" comments of a fixture. */
function annotations(text: string): Expected[] {
  const out: Expected[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /#\s*error(?:@(\d+))?:\s*([a-z][a-z0-9-]*(?:\s*,\s*[a-z][a-z0-9-]*)*)/.exec(line);
    if (!m) return;
    for (const code of m[2]!.split(',')) out.push({ code: code.trim(), line: m[1] ? Number(m[1]) : i + 1 });
  });
  return out;
}

describe('invalid fixtures', () => {
  it('has at least 45 cases, each with its expected diagnostics', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(45);
    for (const f of fixtures) {
      expect(existsSync(join(DIR, f.replace(/\.yaml$/, '.expected.json'))), `${f} has no .expected.json`).toBe(true);
      expect(f).toMatch(/^\d\d-[a-z0-9-]+\.yaml$/);
    }
    // Every pair is complete the other way round, too.
    for (const f of readdirSync(DIR).filter((n) => n.endsWith('.expected.json')))
      expect(fixtures).toContain(f.replace(/\.expected\.json$/, '.yaml'));
  });

  for (const fixture of fixtures) {
    describe(fixture, () => {
      const file = join(DIR, fixture);
      const expected = expectedOf(fixture);

      it('produces exactly the expected errors', async () => {
        const result = await loadFile(file);
        expect(keys(errorsOf(result.diagnostics))).toEqual(keys(expected));
        expect(result.topology).toBeUndefined();
        for (const e of expected.filter((x) => x.hint !== undefined)) {
          const hints = result.diagnostics.filter((d) => d.code === e.code && d.start?.line === e.line).map((d) => d.hint ?? '');
          expect(hints.some((h) => h.includes(e.hint!)), `${key(e)}: hints ${JSON.stringify(hints)}`).toBe(true);
        }
      });

      it('gives every diagnostic a file, line and column inside the file', async () => {
        const result = await loadFile(file);
        const lines = result.source.text.split('\n').length;
        expect(result.diagnostics.length).toBeGreaterThan(0);
        for (const d of result.diagnostics) {
          expect(d.file).toBe(file);
          expect(d.message.length).toBeGreaterThan(10);
          expect(d.start, `${d.code} has no position`).toBeDefined();
          expect(d.start!.line).toBeGreaterThanOrEqual(1);
          expect(d.start!.line).toBeLessThanOrEqual(lines);
          expect(d.start!.col).toBeGreaterThanOrEqual(1);
        }
      });

      it('carries "# error:" comments that agree with the JSON', () => {
        const text = readFileSync(file, 'utf8');
        expect(keys(annotations(text))).toEqual(keys(expected));
      });
    });
  }

  it('reports every code at least once across the fixtures', () => {
    const codes = new Set(fixtures.flatMap((f) => expectedOf(f).map((e) => e.code)));
    // The codes of src/model (schema-check.ts, source.ts, rules.ts, normalize.ts); read-file is
    // tested below, as it has no file to point into.
    const all = [
      'yaml-syntax', 'yaml-aliases', 'duplicate-key', 'multiple-documents',
      'unknown-key', 'missing-key', 'bad-type', 'bad-value', 'bad-version', 'bad-topology-name', 'bad-name',
      'bad-via', 'bad-mode', 'bad-sysctl', 'unknown-driver', 'kernel-name',
      'unknown-network', 'duplicate-join',
      'bad-address', 'bad-cidr', 'address-outside-subnet', 'address-is-network', 'address-is-broadcast',
      'address-is-gateway', 'duplicate-address', 'too-many-addresses',
      'gateway-outside-subnet', 'range-outside-subnet', 'reserved-outside-subnet', 'address-not-usable',
      'duplicate-family', 'subnet-too-small', 'subnet-overlap', 'duplicate-interface',
      'endpoints-not-allowed', 'routes-not-allowed', 'sysctls-not-allowed', 'netns-not-allowed',
      'unknown-container', 'container-self', 'container-cycle', 'container-host-mismatch',
      'macvlan-no-parent', 'macvlan-needs-subnet', 'passthru-one-endpoint',
      'overlay-no-vni', 'vni-range', 'duplicate-vni', 'port-range', 'overlay-needs-subnet', 'overlay-no-underlay',
      'network-spans-hosts', 'unreachable-via', 'route-family', 'duplicate-route',
      'mtu-range', 'bad-mac', 'duplicate-mac',
      'unknown-host', 'host-required', 'duplicate-local-host', 'duplicate-host-netns', 'duplicate-underlay',
      'duplicate-kernel-name', 'pool-exhausted', 'no-free-subnet',
      'subnet-reserved', 'duplicate-sysctl', 'bad-sysctl-value',
    ];
    expect(all.filter((c) => !codes.has(c))).toEqual([]);
  });

  it('reports a file that cannot be read as a diagnostic, not an exception', async () => {
    const missing = join(DIR, 'no-such-file.yaml');
    const result = await loadFile(missing);
    expect(result.diagnostics).toMatchObject([{ severity: 'error', code: 'read-file', file: missing }]);
    const dir = await loadFile(DIR);
    expect(dir.diagnostics.map((d) => d.code)).toEqual(['read-file']);
  });
});

// ---------------------------------------------------------------- the CLI on the same files

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const STACK_LINE = /^ {4}at /m;

describe.concurrent('tsnet validate on invalid fixtures', () => {
  beforeAll(ensureBuilt, 120_000);

  // YAML syntax, a key yaml cannot turn into data, schema types, normalize (which used to throw
  // here), and a file with problems at every stage. One process for all, to keep the suite fast.
  const handful = fixtures.filter((f) => /^(01|07|12|53|57)-/.test(f));
  const rel = (f: string) => join('test', 'fixtures', 'invalid', f);

  it('exits 1 and shows every error of a handful of fixtures, and a missing file, without a stack trace', async () => {
    expect(handful).toHaveLength(5);
    const r = await cli('validate', ...handful.map(rel), rel('no-such-file.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stdout).not.toMatch(STACK_LINE);
    expect(r.stderr).not.toMatch(/this is a bug/i);
    for (const fixture of handful) {
      for (const e of expectedOf(fixture)) {
        expect(r.stderr).toContain(`${rel(fixture)}:${e.line}:`);
        expect(r.stderr).toContain(`error[${e.code}]`);
      }
    }
    expect(r.stderr).toContain('error[read-file]');
    const count = handful.reduce((n, f) => n + expectedOf(f).length, 1);
    expect(r.stderr).toMatch(new RegExp(`^${count} errors$`, 'm'));
  });

  it('shows each diagnostic with its source line and a caret', async () => {
    const r = await cli('validate', rel('13-bad-version.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      [
        'error[bad-version]: this tsnet reads topology files of version 1',
        `  --> ${rel('13-bad-version.yaml')}:2:10`,
        '  |',
        '2 | version: 2 # error: bad-version',
        '  |          ^ write "version: 1"',
        '',
        '1 error',
        '',
      ].join('\n'),
    );
  });

  it('prints the diagnostics of all fixtures as JSON with --json', async () => {
    const r = await cli('validate', '--json', ...fixtures.map((f) => join('test', 'fixtures', 'invalid', f)));
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(STACK_LINE);
    const out = JSON.parse(r.stdout) as {
      format_version: string;
      valid: boolean;
      files: { file: string; valid: boolean; diagnostics: Diagnostic[] }[];
    };
    expect(out.format_version).toMatch(/^1\.\d+$/);
    expect(out.valid).toBe(false);
    expect(out.files.map((f) => f.file)).toEqual(fixtures.map((f) => join('test', 'fixtures', 'invalid', f)));
    for (const [i, f] of out.files.entries()) {
      expect(f.valid).toBe(false);
      expect(keys(errorsOf(f.diagnostics))).toEqual(keys(expectedOf(fixtures[i]!)));
      for (const d of f.diagnostics) {
        expect(d).toMatchObject({ severity: 'error', file: f.file, start: { line: expect.any(Number), col: expect.any(Number) } });
        expect(typeof d.message).toBe('string');
      }
    }
  });
});
