// `tsnet graph` (src/cli/graph.ts) for examples/router.yaml and examples/overlay.yaml: Mermaid
// and DOT are stable (the same text on every run, as committed in test/fixtures/graph/; after a
// deliberate change: UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/graph.test.ts), hold
// every sandbox, network and address of the topology, and Graphviz's `dot -Tsvg` accepts the DOT
// (where Graphviz is installed; .ci/run installs it). The CLI prints the same text; svg without
// Graphviz, an unknown format and an invalid file exit 1.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDot, toMermaid } from '../../src/cli/graph.js';
import { loadFile, loadText } from '../../src/model/load.js';
import type { Topology } from '../../src/model/types.js';
import { ROOT, ensureBuilt } from '../support/build.js';

const GOLDEN = join(ROOT, 'test', 'fixtures', 'graph');
const CLI = join(ROOT, 'bin', 'tsnet.js');
const exec = promisify(execFile);

const hasDot = (() => {
  try {
    execFileSync('dot', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  if (!existsSync(file)) throw new Error(`${file} is missing; write it with UPDATE_GOLDEN=1 and review it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

/** Every name and address the picture must show. */
function expectedWords(t: Topology): string[] {
  const words = [...t.sandboxes.keys(), ...t.networks.keys()];
  for (const n of t.networks.values()) words.push(...n.subnets.map((s) => s.cidr));
  for (const sb of t.sandboxes.values()) for (const ep of sb.endpoints) words.push(ep.ifname, ...ep.addresses);
  return words;
}

beforeAll(ensureBuilt, 120_000);

for (const example of ['router', 'overlay']) {
  describe(`graph of examples/${example}.yaml`, () => {
    const file = join(ROOT, 'examples', `${example}.yaml`);
    let t: Topology;
    beforeAll(async () => {
      const loaded = await loadFile(file);
      expect(loaded.diagnostics).toEqual([]);
      t = loaded.topology!;
    });

    it('Mermaid: stable, and holds every sandbox, network and address', async () => {
      const text = toMermaid(t);
      expect(toMermaid((await loadFile(file)).topology!)).toBe(text);
      golden(`${example}.mmd`, text);
      expect(text.startsWith('flowchart LR\n')).toBe(true);
      for (const w of expectedWords(t)) expect(text, w).toContain(w);
      for (const sb of t.sandboxes.keys()) expect(text).toMatch(new RegExp(`^ +sb_${sb}\\["${sb}<br/>`, 'm'));
      for (const n of t.networks.keys()) expect(text).toMatch(new RegExp(`^ +net_${n.replace(/-/g, '_2d')}\\{\\{"${n}<br/>`, 'm'));
      const edges = text.split('\n').filter((l) => l.includes(' --- net_'));
      expect(edges).toHaveLength([...t.sandboxes.values()].reduce((k, sb) => k + sb.endpoints.length, 0));
    });

    it('DOT: stable, holds every sandbox, network and address', async () => {
      const text = toDot(t);
      expect(toDot((await loadFile(file)).topology!)).toBe(text);
      golden(`${example}.dot`, text);
      for (const w of expectedWords(t)) expect(text, w).toContain(w);
    });

    it.skipIf(!hasDot)('dot -Tsvg draws the DOT text (Graphviz; skipped without dot)', () => {
      const svg = execFileSync('dot', ['-Tsvg'], { input: toDot(t) }).toString();
      expect(svg).toContain('<svg');
      for (const sb of t.sandboxes.keys()) expect(svg).toContain(`>${sb}</text>`);
    });

    it('the CLI prints the same text', async () => {
      const mermaid = await cli(['graph', file]);
      expect(mermaid).toEqual({ code: 0, stdout: toMermaid(t), stderr: '' });
      const dot = await cli(['graph', '--format', 'dot', file]);
      expect(dot).toEqual({ code: 0, stdout: toDot(t), stderr: '' });
    });

    it.skipIf(!hasDot)('the CLI prints svg through Graphviz (skipped without dot)', async () => {
      const svg = await cli(['graph', '--format', 'svg', file]);
      expect(svg.code, svg.stderr).toBe(0);
      expect(svg.stdout).toContain('<svg');
    });
  });
}

describe('graph of examples/p2p-chain.yaml: point-to-point links are direct edges', () => {
  const file = join(ROOT, 'examples', 'p2p-chain.yaml');
  let t: Topology;
  beforeAll(async () => {
    const loaded = await loadFile(file);
    expect(loaded.diagnostics).toEqual([]);
    t = loaded.topology!;
  });

  it('Mermaid: one edge from sandbox to sandbox per link, with both ends; no network node', () => {
    const text = toMermaid(t);
    golden('p2p-chain.mmd', text);
    for (const w of expectedWords(t)) expect(text, w).toContain(w);
    expect(text).not.toMatch(/net_/);
    expect(text).toContain('  sb_a -- "a-r1 (point-to-point, 198.18.40.0/31)<br/>a/eth0 198.18.40.0/31<br/>r1/eth0 198.18.40.1/31" --- sb_r1');
    expect(text.split('\n').filter((l) => /^ +sb_\w+ -- .* --- sb_\w+$/.test(l))).toHaveLength(3);
  });

  it('DOT: the same edges, and Graphviz draws them', () => {
    const text = toDot(t);
    golden('p2p-chain.dot', text);
    expect(text).not.toMatch(/net_/);
    expect(text.split('\n').filter((l) => /^ +sb_\w+ -- sb_\w+ \[penwidth=2/.test(l))).toHaveLength(3);
    if (hasDot) expect(execFileSync('dot', ['-Tsvg'], { input: text }).toString()).toContain('<svg');
  });
});

describe('graph of a link taken down (examples/link-down.yaml, and a bridge endpoint): drawn dashed, marked down', () => {
  it('dashes the p2p edge with a down end, in Mermaid and DOT', async () => {
    const t = (await loadFile(join(ROOT, 'examples', 'link-down.yaml'))).topology!;
    const mmd = toMermaid(t);
    expect(mmd).toContain('  sb_r1 -. "r1-r2 (point-to-point, 198.18.40.2/31)<br/>r1/eth1 198.18.40.2/31 (down)<br/>r2/eth0 198.18.40.3/31" .- sb_r2');
    expect(mmd).toContain('  sb_r2 -- "r2-b');
    const dot = toDot(t);
    expect(dot).toContain('sb_r1 -- sb_r2 [penwidth=2, style=dashed, label=');
    expect(dot.match(/style=dashed/g)).toHaveLength(1);
  });

  it('dashes a bridge endpoint that is down', () => {
    const t = loadText('d.yaml', 'version: 1\nname: d\nnetworks:\n  n: {driver: bridge, subnet: 198.18.1.0/24}\nsandboxes:\n  a:\n    endpoints: [{network: n, up: false}]\n  b:\n    endpoints: [{network: n}]\n').topology!;
    expect(toMermaid(t)).toContain('  sb_a -. "eth0<br/>198.18.1.2/24<br/>down" .- net_n');
    expect(toMermaid(t)).toContain('  sb_b -- "eth0<br/>198.18.1.3/24" --- net_n');
    expect(toDot(t)).toContain('sb_a -- net_n [style=dashed, label="eth0\\n198.18.1.2/24\\ndown"];');
  });
});

describe('node ids', () => {
  it('names that differ only in "-" and "_" stay two nodes', () => {
    const t = loadText('c.yaml', 'version: 1\nname: c\nnetworks:\n  a-b: {driver: bridge, subnet: 198.18.1.0/24}\n  a_b: {driver: bridge, subnet: 198.18.2.0/24}\n').topology!;
    for (const text of [toMermaid(t), toDot(t)]) {
      const ids = new Set([...text.matchAll(/\bnet_[A-Za-z0-9_]+/g)].map((m) => m[0]));
      expect(ids.size, text).toBe(2);
    }
  });
});

describe('graph errors', () => {
  let bin: string;
  beforeAll(() => {
    // A PATH holding node and nothing else: no Graphviz.
    bin = mkdtempSync(join(tmpdir(), 'tsnet-graph-'));
    symlinkSync(process.execPath, join(bin, 'node'));
  });
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('svg without Graphviz exits 1 and says what to install', async () => {
    const res = await cli(['graph', '--format', 'svg', join(ROOT, 'examples', 'router.yaml')], { ...process.env, PATH: bin });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('svg output needs Graphviz\'s "dot" (Debian: apt-get install graphviz)');
  });

  it('--out into a missing directory or onto a directory exits 1 saying why (not an internal error); --out - is stdout', async () => {
    const router = join(ROOT, 'examples', 'router.yaml');
    const missing = await cli(['graph', '--out', join(bin, 'no', 'such', 'x.dot'), router]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`tsnet: cannot write ${join(bin, 'no', 'such', 'x.dot')}: no such directory\n`);
    const dir = await cli(['graph', '--out', bin, router]);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toBe(`tsnet: cannot write ${bin}: it is a directory\n`);
    const stdout = await cli(['graph', '--out', '-', router]);
    expect(stdout.code).toBe(0);
    expect(stdout.stdout).toMatch(/^flowchart LR/);
  });

  it('an unknown format and an invalid file exit 1', async () => {
    const format = await cli(['graph', '--format', 'png', join(ROOT, 'examples', 'router.yaml')]);
    expect(format.code).toBe(1);
    expect(format.stderr).toContain("argument 'png' is invalid. Allowed choices are mermaid, dot, svg.");
    const invalid = await cli(['graph', join(ROOT, 'test', 'fixtures', 'invalid', '13-bad-version.yaml')]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toContain('error[bad-version]');
  });
});

describe('graph of a shaped topology (examples/wan.yaml)', () => {
  it('labels shaped links with their shaping, in Mermaid and DOT; unshaped links get none', async () => {
    const t = (await loadFile(join(ROOT, 'examples', 'wan.yaml'))).topology!;
    const mmd = toMermaid(t);
    expect(mmd).toContain('sb_ra -- "eth1<br/>198.18.72.2/29<br/>out: rate 10mbit delay 20ms" --- net_wan');
    expect(mmd).toContain('sb_ra -- "eth0<br/>198.18.70.254/24" --- net_site_2da');
    const dot = toDot(t);
    expect(dot).toContain('sb_rb -- net_wan [label="eth1\\n198.18.72.3/29\\nout: rate 10mbit delay 20ms", style=bold];');
    const ingress = loadText('t.yaml', 'version: 1\nname: t\nnetworks: {n: {driver: bridge, subnet: 198.18.5.0/24}}\nsandboxes: {a: {endpoints: [{network: n, shaping: {ingress: {rate: 2mbit}}}]}}\n').topology!;
    expect(toMermaid(ingress)).toContain('"eth0<br/>198.18.5.2/24<br/>in: rate 2mbit"');
  });
});
