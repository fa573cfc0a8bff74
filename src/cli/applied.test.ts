// The record of the last apply: written whole, read back, and anything else is "no record".
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appliedPath, parseApplied, readAllApplied, readApplied, removeApplied, viaText, writeApplied } from './applied.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const tmp = () => (dir = mkdtempSync(join(tmpdir(), 'tsnet-applied-')));

describe('apply record', () => {
  it('round trip: the absolute file, the time, the hosts with how they are reached', () => {
    const d = tmp();
    const hosts = [
      { name: 'h1', via: { kind: 'netns' as const, netns: 'lab-h1' }, underlay: '198.19.0.1' },
      { name: 'far', via: { kind: 'ssh' as const, destination: 'root@far' } },
    ];
    writeApplied('lab', 'examples/x.yaml', hosts, new Date('2025-01-02T03:04:05.678Z'), d);
    expect(readApplied('lab', d)).toEqual({ version: 1, topology: 'lab', file: resolve('examples/x.yaml'), applied_at: '2025-01-02T03:04:05.678Z', hosts });
    expect([...readAllApplied(d).keys()]).toEqual(['lab']);
    removeApplied('lab', d);
    expect(readApplied('lab', d)).toBeUndefined();
    removeApplied('lab', d); // already gone: no error
  });

  it('a record that is not one tsnet wrote is no record', () => {
    const d = tmp();
    writeFileSync(appliedPath('x', d), '{not json');
    expect(readApplied('x', d)).toBeUndefined();
    const ok = { version: 1, topology: 't', file: '/f', applied_at: 'now', hosts: [{ name: 'local', via: { kind: 'local' } }] };
    expect(parseApplied(JSON.stringify(ok), 't')).toEqual(ok);
    expect(parseApplied(JSON.stringify(ok), 'other')).toBeUndefined();
    expect(parseApplied(JSON.stringify({ ...ok, version: 2 }), 't')).toBeUndefined();
    expect(parseApplied(JSON.stringify({ ...ok, hosts: [{ name: 'h', via: { kind: 'ssh' } }] }), 't')).toBeUndefined();
    expect(readAllApplied(join(d, 'missing'))).toEqual(new Map());
  });

  it('viaText says it as the file does', () => {
    expect([viaText({ kind: 'local' }), viaText({ kind: 'ssh', destination: 'root@h' }), viaText({ kind: 'netns', netns: 'n' })]).toEqual(['local', 'ssh root@h', 'netns n']);
  });
});
