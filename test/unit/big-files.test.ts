// Big and hostile files: validation ends (a runaway expansion would hit the tests' own time
// limits, which guard against hangs and measure nothing: speed is bench/'s) and prints a bounded
// number of lines, with exact counts of what it found.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_PRINTED } from '../../src/cli/output.js';
import { loadText } from '../../src/model/load.js';
import { ensureBuilt, ROOT } from '../support/build.js';
import { aliasBomb, aliasLine } from '../support/hostile.js';
import { MAX_ALIAS_EXPANSION } from '../../src/model/yaml-limits.js';

const CLI = join(ROOT, 'bin', 'tsnet.js');
const run = promisify(execFile);

describe('an anchor of 10,000 endpoints used 99 times (a 270 KB file)', () => {
  it('is refused at the alias where the expansion passes the limit', () => {
    const text = aliasBomb(99);
    const r = loadText('bomb.yaml', text);
    // Each use adds 30,000 nodes (a list, and per endpoint a mapping, a key and a value).
    const crossing = Math.floor(MAX_ALIAS_EXPANSION / 30_000) + 1;
    expect(r.diagnostics.map((d) => ({ code: d.code, line: d.start?.line, col: d.start?.col }))).toEqual([
      { code: 'yaml-aliases', line: aliasLine(crossing), col: 20 },
    ]);
  }, 60_000);
});

describe('a small anchor used 300 times', () => {
  it('is a valid topology (yaml refused it for "too many aliases": counting aliases, not what they expand to)', () => {
    const text = [
      'version: 1',
      'name: many',
      'networks:',
      '  n: {driver: bridge, subnet: 198.18.0.0/16}',
      'sandboxes:',
      '  s0: {endpoints: &ep [{network: n}], sysctls: &fwd {net.ipv4.ip_forward: 1}}',
      ...Array.from({ length: 300 }, (_, i) => `  s${i + 1}: {endpoints: *ep, sysctls: *fwd}`),
    ].join('\n');
    const r = loadText('many.yaml', text);
    expect(r.diagnostics).toEqual([]);
    expect(r.topology?.sandboxes.size).toBe(301);
    expect(r.topology?.sandboxes.get('s300')?.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
  });
});

describe('an anchor of 10,000 endpoints used 30 times (under the limit)', () => {
  it('reports each error once per place: 10,000 in the anchor, one per alias with a count', () => {
    const r = loadText('bomb.yaml', aliasBomb(30));
    expect(r.diagnostics).toHaveLength(10_030);
    expect(r.diagnostics.every((d) => d.code === 'unknown-network')).toBe(true);
    const atAliases = r.diagnostics.filter((d) => d.start!.line > aliasLine(0));
    expect(atAliases.map((d) => d.start!.line)).toEqual(Array.from({ length: 30 }, (_, i) => aliasLine(i + 1)));
    expect(atAliases[0]).toMatchObject({
      message: 'endpoint.s1.eth0 joins network "nowhere", which is not declared (and 9,999 more like it)',
      start: { line: aliasLine(1), col: 19 },
      hint: 'declared networks: n',
    });
    // In the anchor itself every endpoint has a line of its own.
    expect(r.diagnostics[0]).toMatchObject({ message: 'endpoint.s0.eth0 joins network "nowhere", which is not declared', start: { line: 8, col: 19 } });
  }, 60_000);
});

describe('tsnet validate on the bomb under the limit', () => {
  beforeAll(ensureBuilt, 120_000);

  it('prints the first 100 diagnostics, says how many more there are, and counts them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnet-big-'));
    const file = join(dir, 'bomb.yaml');
    writeFileSync(file, aliasBomb(30));
    try {
      const r = await validate(file);
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n');
      // Per diagnostic: header, location, gutter, source line, caret, blank.
      expect(lines).toHaveLength(MAX_PRINTED * 6 + 4);
      expect(lines.filter((l) => l.startsWith('error[unknown-network]'))).toHaveLength(MAX_PRINTED);
      expect(lines.slice(-4)).toEqual(['... and 9,930 more not shown (--json lists every one)', '', '10,030 errors', '']);
      const json = await validate('--json', file);
      const out = JSON.parse(json.stdout) as { files: { diagnostics: { message: string }[] }[] };
      expect(out.files[0]!.diagnostics).toHaveLength(10_030);
      expect(out.files[0]!.diagnostics.filter((d) => d.message.endsWith('(and 9,999 more like it)'))).toHaveLength(30);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

async function validate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'validate', ...args], { env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
