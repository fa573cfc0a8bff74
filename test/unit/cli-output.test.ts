// The CLI's output contract where no kernel is involved (README "Exit codes", "JSON output",
// "Commands"): validate --json is one document with format_version 1.x and nothing else;
// validate -q prints nothing on success; diagnostics go to stderr, coloured only when forced and
// never with NO_COLOR; usage errors exit 1; and the plan JSON of every golden plan case (every
// kind of change, replace, deletion and plan error) validates against schemas/plan.schema.json.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { planToJson } from '../../src/cli/plan-json.js';
import { ROOT, ensureBuilt } from '../support/build.js';
import { PLAN_CASES, planCase } from '../support/golden.js';
import { FORMAT_1X, planSchemaErrors } from '../support/json.js';

const CLI = join(ROOT, 'bin', 'tsnet.js');
const exec = promisify(execFile);
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join('examples', f));
const INVALID = join('test', 'fixtures', 'invalid', '13-bad-version.yaml');

/** The CLI with exactly this colour environment (undefined: unset); stdout and stderr are pipes. */
async function cli(args: string[], env: Record<string, string | undefined> = { NO_COLOR: '1' }) {
  const full: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { cwd: ROOT, env: full });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('CLI output without the kernel', () => {
  beforeAll(ensureBuilt, 120_000);

  it('validate --json: one document, format 1.x, nothing on stderr (with --show: the topology too)', async () => {
    const res = await cli(['validate', '--json', '--show', ...EXAMPLES]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const doc = JSON.parse(res.stdout) as { format_version: string; valid: boolean; files: { file: string; valid: boolean; diagnostics: unknown[]; topology?: { name: string } }[] };
    expect(doc.format_version).toMatch(FORMAT_1X);
    expect(doc.valid).toBe(true);
    expect(doc.files.map((f) => f.file)).toEqual(EXAMPLES);
    for (const f of doc.files) expect(f).toMatchObject({ valid: true, diagnostics: [], topology: { name: expect.any(String) } });
  });

  it('validate -q prints nothing when every file is valid, and the errors when one is not', async () => {
    expect(await cli(['validate', '-q', ...EXAMPLES])).toEqual({ code: 0, stdout: '', stderr: '' });
    const bad = await cli(['validate', '-q', INVALID]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('error[bad-version]');
  });

  it('diagnostics go to stderr without escape codes unless colour is forced, and never with NO_COLOR', async () => {
    for (const env of [{}, { NO_COLOR: '1' }, { NO_COLOR: '1', FORCE_COLOR: '1' }]) {
      const res = await cli(['validate', INVALID], env);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('error[bad-version]');
      expect(res.stderr, JSON.stringify(env)).not.toContain('\u001b');
    }
    expect((await cli(['validate', INVALID], { FORCE_COLOR: '1' })).stderr).toMatch(/\u001b\[[0-9;]*m/);
    const ok = await cli(['validate', join('examples', 'router.yaml')], {});
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain('\u001b');
  });

  it('usage errors exit 1 with a hint on stderr; --version and --help exit 0', async () => {
    for (const args of [['frobnicate'], ['validate', '--frobnicate', 'x.yaml'], ['plan'], ['graph', '--format'], ['confirm']]) {
      const res = await cli(args);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(/^error: /);
      expect(res.stderr).toContain('(run "tsnet --help" for usage)');
    }
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['validate', 'plan', 'apply', 'destroy', 'show', 'confirm', 'graph']) expect(help.stdout).toContain(`  ${c} `);
  });
});

describe('schemas/plan.schema.json', () => {
  const cases = readdirSync(PLAN_CASES).filter((d) => existsSync(join(PLAN_CASES, d, 'topology.yaml'))).sort();

  it('accepts the plan JSON of every golden plan case', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    const seen = new Set<string>();
    for (const name of cases) {
      const planned = planCase(join(PLAN_CASES, name));
      if ('invalid' in planned) continue;
      const doc = planToJson(planned.plan, 'topology.yaml');
      expect(planSchemaErrors(doc), name).toEqual([]);
      for (const c of doc.changes) seen.add(c.action);
      if (doc.errors.length) seen.add('errors');
    }
    // Not vacuous: every action and plan errors occur among the cases.
    expect([...seen].sort()).toEqual(['create', 'delete', 'errors', 'replace', 'update']);
  });

  it('refuses what is not a plan', () => {
    const doc = planToJson(
      {
        topology: 't',
        hosts: ['local'],
        implicitHost: true,
        errors: [],
        changes: [{ action: 'create', host: 'local', address: 'sandbox.a', kind: 'sandbox', summary: 's', reasons: [], before: null, after: { kind: 'sandbox', host: 'local', address: 'sandbox.a', netns: 't-a', sysctls: {} } }],
        steps: [],
      },
      'x.yaml',
    );
    expect(planSchemaErrors(doc)).toEqual([]);
    expect(planSchemaErrors({ ...doc, format_version: '2.0' })).not.toEqual([]);
    expect(planSchemaErrors({ ...doc, changes: [{ ...doc.changes[0], action: 'upsert' }] })).not.toEqual([]);
    // Terraform's contract: a create has no before, a delete no after, an update both.
    const change = doc.changes[0]!;
    expect(planSchemaErrors({ ...doc, changes: [{ ...change, before: change.after }] })).not.toEqual([]);
    expect(planSchemaErrors({ ...doc, changes: [{ ...change, action: 'delete', symbol: '-' }] })).not.toEqual([]);
    expect(planSchemaErrors({ ...doc, changes: [{ ...change, action: 'delete', symbol: '-', before: change.after, after: null }] })).toEqual([]);
    expect(planSchemaErrors({ ...doc, changes: [{ ...change, action: 'update', symbol: '~' }] })).not.toEqual([]);
    const { steps: _steps, ...withoutSteps } = doc;
    expect(planSchemaErrors(withoutSteps)).not.toEqual([]);
  });
});
