// tsnet list against the real kernel: two topologies applied (one on this machine, one on two
// netns hosts with NAT in a host namespace's nftables), counted from their marks, with the
// last apply from its record ("unknown" without one); foreign objects are not counted; a
// destroyed topology disappears; 40 namespaces are read through the fan-out, not one Node
// spawn each. Fixtures: fixtures/list-a.yaml (klsa), list-b.yaml (klsb).
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ipBatch } from '../support/kernel.js';
import { FIXTURES, describeInLab, must, removeAll, run, tsnet, tsnetOk, ROOT } from '../support/lab.js';

const A = join(FIXTURES, 'list-a.yaml');
const B = join(FIXTURES, 'list-b.yaml');
const HOSTS = ['klsb-h1', 'klsb-h2'];
const FOREIGN = 'kls-foreign';
const STATE_DIR = process.env.TSNET_STATE_DIR ?? '/run/tsnet';

interface Listed {
  name: string;
  namespaces: number;
  links: number;
  nft_tables: number;
  last_apply: string | null;
  file: string | null;
  hosts: { name: string; via: string }[] | null;
}

/** `tsnet list --json`, only the topologies of this file. */
async function listed(): Promise<Listed[]> {
  const res = await tsnet('list', '--json');
  expect(res.code, res.all).toBe(0);
  const doc = JSON.parse(res.stdout) as { format_version: string; topologies: Listed[] };
  expect(doc.format_version).toMatch(/^1\.\d+$/);
  return doc.topologies.filter((t) => t.name.startsWith('kls'));
}

describeInLab('tsnet list', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsnet-list-'));
    for (const h of HOSTS) {
      await must(['ip', 'netns', 'add', h]);
      await ipBatch(['link set lo up'], h);
    }
    // Foreign objects, some with aliases that look almost like marks: never counted.
    await must(['ip', 'netns', 'add', FOREIGN]);
    await ipBatch(['link add kls-fa type veth peer name kls-fb', 'link set kls-fa alias tsnet-klsa', 'link set lo alias tsnet:'], FOREIGN);
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', A);
    await tsnet('destroy', '--auto-approve', '-q', B);
    await removeAll({ netns: [...HOSTS, FOREIGN] });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nothing of its own: nothing listed', async () => {
    expect(await listed()).toEqual([]);
  });

  it('two topologies applied: their namespaces, links and nftables tables, the time and file of the last apply', async () => {
    const start = new Date();
    await tsnetOk('apply', '--auto-approve', '-q', A);
    await tsnetOk('apply', '--auto-approve', '-q', B);
    const end = new Date();
    const topologies = await listed();
    expect(topologies.map(({ last_apply: _t, ...rest }) => rest)).toEqual([
      { name: 'klsa', namespaces: 3, links: 5, nft_tables: 0, file: A, hosts: [{ name: 'local', via: 'local' }] },
      {
        name: 'klsb',
        namespaces: 2,
        links: 6,
        nft_tables: 1,
        file: B,
        hosts: [
          { name: 'h1', via: 'netns klsb-h1' },
          { name: 'h2', via: 'netns klsb-h2' },
        ],
      },
    ]);
    for (const t of topologies) {
      const at = new Date(t.last_apply!).getTime();
      expect(at).toBeGreaterThanOrEqual(start.getTime());
      expect(at).toBeLessThanOrEqual(end.getTime());
    }
    // The record is the CLI's: a file beside the journals and locks.
    expect(JSON.parse(readFileSync(join(STATE_DIR, 'klsa.applied.json'), 'utf8')).file).toBe(A);
  });

  it('as a table for people; without the record the time and file are "unknown"', async () => {
    rmSync(join(STATE_DIR, 'klsb.applied.json'));
    const res = await tsnet('list');
    expect(res.code, res.all).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^TOPOLOGY\s+NAMESPACES\s+LINKS\s+NFT TABLES\s+LAST APPLY\s+FILE$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^klsa\\s+3\\s+5\\s+0\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+${A.replace(/[.]/g, '\\.')}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^klsb\s+2\s+6\s+1\s+unknown\s+unknown$/));
    expect((await listed()).find((t) => t.name === 'klsb')).toMatchObject({ last_apply: null, file: null, hosts: null });
  });

  it('a destroyed topology disappears, the other stays', async () => {
    await tsnetOk('destroy', '--auto-approve', '-q', A);
    expect((await listed()).map((t) => t.name)).toEqual(['klsb']);
    await tsnetOk('destroy', '--auto-approve', '-q', B);
    expect(await listed()).toEqual([]);
  });

  it('40 namespaces: all counted, read by a few xargs workers rather than one Node spawn each', async () => {
    const file = join(dir, 'many.yaml');
    const sandboxes = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`s${i}`, { mode: 'none' }]));
    writeFileSync(file, stringify({ version: 1, name: 'klsc', sandboxes }));
    try {
      await tsnetOk('apply', '--auto-approve', '-q', file);
      const trace = join(dir, 'trace');
      const res = await run(['node', join(ROOT, 'bin', 'tsnet.js'), 'list', '--json'], { env: { TSNET_TRACE: trace } });
      expect(res.code, res.all).toBe(0);
      const klsc = (JSON.parse(res.stdout) as { topologies: Listed[] }).topologies.find((t) => t.name === 'klsc');
      expect(klsc).toMatchObject({ namespaces: 40, links: 0, nft_tables: 0 });
      // Each trace line is one process Node started (an xargs line stands for the ip processes it starts).
      const spawns = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
      expect(spawns.filter((l) => / nsenter .* ip /.test(` ${l} `) && !l.includes('xargs'))).toEqual([]);
      expect(spawns.length).toBeLessThan(20);
    } finally {
      await tsnet('destroy', '--auto-approve', '-q', file);
    }
  });
});
