// Rollback of a step that failed part way, with a fake runner standing in for ip: only what
// ran is undone, plus what the planner's passes added to the step's undo (what the kernel
// removes along with its lines).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Plan, Step } from '../planner/types.js';
import type { Runner, RunOptions, RunResult } from '../state/runner.js';
import { execute } from './execute.js';
import { Journal } from './journal.js';
import { b64, type FileOp } from './tools/file.js';

/** Records every batch; fails the first batch whose input holds `failOn`, as ip reports it. */
class FakeRunner implements Runner {
  readonly host = 'local';
  readonly machine = 'local';
  readonly describe = 'fake';
  readonly batches: { argv: string[]; lines: string[] }[] = [];
  constructor(private readonly failOn: string) {}
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const lines = (opts.input ?? '').split('\n').filter(Boolean);
    this.batches.push({ argv: [...argv], lines });
    const i = argv.includes('-force') ? -1 : lines.indexOf(this.failOn);
    if (i >= 0) return { stdout: '', stderr: `Error: ipv4: Address not found.\nCommand failed -:${i + 1}\n`, exitCode: 1 };
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async listNetns(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

/** The fields of a step that these tests do not vary. */
const stepOf = (host: string, address: string, phase: string) => ({
  id: `${host}|${address}|${phase}`,
  host,
  address,
  phase,
  ns: null,
  tool: 'ip' as const,
  isDeletion: false,
  creates: [],
  deletes: [],
  marks: [],
});

const cmd = (line: string) => ({ host: 'local', ns: 'sb', tool: 'ip' as const, argv: line.split(' ') });

/** An address change whose undo mirrors its lines, plus a route the kernel drops with the old address. */
const step: Step = {
  ...stepOf('local', 'endpoint.a.eth0', 'update'),
  ns: 'sb',
  action: 'update',
  description: 'update sb/eth0',
  do: [
    ['link', 'set', 'eth0', 'mtu', '1400'],
    ['addr', 'del', '198.18.0.2/24', 'dev', 'eth0'],
    ['addr', 'add', '198.18.0.3/24', 'dev', 'eth0'],
  ],
  undo: [
    cmd('addr del 198.18.0.3/24 dev eth0'),
    cmd('addr add 198.18.0.2/24 dev eth0'),
    cmd('link set eth0 mtu 1500'),
    cmd('route add default via 198.18.0.1 proto 116'),
  ],
  after: [],
};
const plan: Plan = { topology: 't', changes: [], steps: [step], errors: [], hosts: ['local'], implicitHost: true };

describe('execute: a step that fails part way', () => {
  it('undoes the lines that ran, then the commands that restore what went along with them', async () => {
    const runner = new FakeRunner('addr add 198.18.0.3/24 dev eth0');
    const result = await execute(plan, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(false);
    expect(result.failure?.step.id).toBe(step.id);
    expect(result.failure?.error).toBe('Error: ipv4: Address not found.');
    expect(result.failure?.command).toBe('ip addr add 198.18.0.3/24 dev eth0');
    const undo = runner.batches.find((b) => b.argv.includes('-force'));
    expect(undo?.lines).toEqual(['addr add 198.18.0.2/24 dev eth0', 'link set eth0 mtu 1500', 'route add default via 198.18.0.1 proto 116']);
  });

  it('undoes nothing of a step whose first line failed', async () => {
    const runner = new FakeRunner('link set eth0 mtu 1400');
    const result = await execute(plan, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(false);
    expect(runner.batches.filter((b) => b.argv.includes('-force'))).toEqual([]);
  });
});

describe('execute: deleting a link that is already gone', () => {
  /** ip's answer to `link del` of a veth the kernel already took with its namespace. */
  class GoneRunner extends FakeRunner {
    override async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
      const lines = (opts.input ?? '').split('\n').filter(Boolean);
      this.batches.push({ argv: [...argv], lines });
      const i = lines.indexOf('link del tsv1');
      if (i >= 0) return { stdout: '', stderr: `Cannot find device "tsv1"\nCommand failed -:${i + 1}\n`, exitCode: 1 };
      const j = lines.indexOf('link del tsv-broken');
      if (j >= 0) return { stdout: '', stderr: `RTNETLINK answers: Operation not permitted\nCommand failed -:${j + 1}\n`, exitCode: 1 };
      return { stdout: '', stderr: '', exitCode: 0 };
    }
  }
  const del = (name: string, id: string): Step => ({
    ...stepOf('local', id, 'delete'),
    isDeletion: true,
    deletes: [{ kind: 'link', host: 'local', ns: null, name }],
    action: 'delete',
    description: `delete veth ${name}`,
    do: [['link', 'del', name]],
    undo: [],
    after: [],
  });
  const bridge: Step = { ...del('tsn-x', 'network.x'), description: 'delete bridge tsn-x' };

  it('counts the step as done and runs the rest of the batch', async () => {
    const runner = new GoneRunner('');
    const p: Plan = { ...plan, steps: [del('tsv1', 'endpoint.a.eth0'), bridge] };
    const result = await execute(p, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(true);
    expect(result.completed.map((s) => s.id)).toEqual(['local|endpoint.a.eth0|delete', 'local|network.x|delete']);
    // Each step's lines are followed by a progress marker (a show of lo).
    expect(runner.batches.map((b) => b.lines)).toEqual([
      ['link del tsv1', 'link show dev lo', 'link del tsn-x', 'link show dev lo'],
      ['link del tsn-x', 'link show dev lo'],
    ]);
  });

  it('still fails on any other error of a deletion', async () => {
    const runner = new GoneRunner('');
    const p: Plan = { ...plan, steps: [del('tsv-broken', 'endpoint.b.eth0'), bridge] };
    const result = await execute(p, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(false);
    expect(result.failure?.error).toContain('Operation not permitted');
  });

  it('does not take an injected or other device named in the error for the one being deleted', async () => {
    class OtherDevice extends FakeRunner {
      override async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
        const lines = (opts.input ?? '').split('\n').filter(Boolean);
        this.batches.push({ argv: [...argv], lines });
        const i = lines.indexOf('link del tsv1');
        if (i >= 0 && !argv.includes('-force')) return { stdout: '', stderr: `Cannot find device "tsn-other"\nCommand failed -:${i + 1}\n`, exitCode: 1 };
        return { stdout: '', stderr: '', exitCode: 0 };
      }
    }
    const runner = new OtherDevice('');
    const result = await execute({ ...plan, steps: [del('tsv1', 'endpoint.a.eth0'), bridge] }, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(false);
    expect(result.failure?.step.id).toBe('local|endpoint.a.eth0|delete');
  });
});

describe('execute: ip exiting 255 without naming the line', () => {
  /** ip's answer to an argument error: the message, exit 255, no "Command failed"; stdout holds the markers printed so far. */
  class Exit255Runner extends FakeRunner {
    override async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
      const lines = (opts.input ?? '').split('\n').filter(Boolean);
      this.batches.push({ argv: [...argv], lines });
      const i = argv.includes('-force') ? -1 : lines.indexOf('route add default via 198.18.0.1 proto 116');
      if (i < 0) return { stdout: '', stderr: '', exitCode: 0 };
      const markers = lines.slice(0, i).filter((l) => l === 'link show dev lo').length;
      return { stdout: '[{"ifname":"lo"}]\n'.repeat(markers), stderr: 'Error: argument "x" is wrong: Device does not exist\n', exitCode: 255 };
    }
  }
  // In the host's own stack (ns null): one batch run alone, which carries the markers.
  const mk = (id: string, lines: string[], undo: string[]): Step => ({
    ...stepOf('local', id, 'create'),
    action: 'create',
    description: id,
    do: lines.map((l) => l.split(' ')),
    undo: undo.map((l) => ({ host: 'local', ns: null, tool: 'ip' as const, argv: l.split(' ') })),
    after: [],
  });

  it('counts the steps before the failing one as done from the markers, and undoes the failing one whole', async () => {
    const runner = new Exit255Runner('');
    const steps = [
      mk('endpoint.a.eth0', ['addr add 198.18.0.2/24 dev eth0'], ['addr del 198.18.0.2/24 dev eth0']),
      mk('route.a.default', ['link set eth0 up', 'route add default via 198.18.0.1 proto 116'], ['link set eth0 down']),
    ];
    const result = await execute({ ...plan, steps }, { runners: new Map([['local', runner]]), readBack: false });
    expect(result.ok).toBe(false);
    expect(result.failure?.step.id).toBe('local|route.a.default|create');
    expect(result.failure?.error).toBe('Error: argument "x" is wrong: Device does not exist');
    expect(result.completed.map((s) => s.id)).toEqual(['local|endpoint.a.eth0|create']);
    const undone = runner.batches.filter((b) => b.argv.includes('-force')).map((b) => b.lines);
    expect(undone).toEqual([['link set eth0 down'], ['addr del 198.18.0.2/24 dev eth0']]);
  });
});

describe('execute: several batches failing at once', () => {
  /** Fails the line "link set bad up" wherever it is, as ip reports it; -force batches succeed. */
  class BadLineRunner extends FakeRunner {
    override async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
      const lines = (opts.input ?? '').split('\n').filter(Boolean);
      this.batches.push({ argv: [...argv], lines, ns: opts.ns ?? null } as never);
      const i = argv.includes('-force') ? -1 : lines.indexOf('link set bad up');
      if (i >= 0) return { stdout: '', stderr: `Cannot find device "bad"\nCommand failed -:${i + 1}\n`, exitCode: 1 };
      return { stdout: '', stderr: '', exitCode: 0 };
    }
  }
  const inNs = (ns: string): Step => ({
    ...stepOf('local', `endpoint.${ns}.eth0`, 'update'),
    ns,
    action: 'update',
    description: `update ${ns}`,
    do: [['addr', 'add', '198.18.0.2/24', 'dev', 'eth0'], ['link', 'set', 'bad', 'up']],
    undo: [
      { host: 'local', ns, tool: 'ip', argv: ['link', 'set', 'bad', 'down'] },
      { host: 'local', ns, tool: 'ip', argv: ['addr', 'del', '198.18.0.2/24', 'dev', 'eth0'] },
    ],
    after: [],
  });

  it('undoes what ran of every failed batch, not only of the first', async () => {
    const runner = new BadLineRunner('');
    const result = await execute({ ...plan, steps: [inNs('n1'), inNs('n2')] }, { runners: new Map([['local', runner]]), readBack: false, concurrency: 2 });
    expect(result.ok).toBe(false);
    const undone = (runner.batches as unknown as { argv: string[]; lines: string[]; ns: string | null }[]).filter((b) => b.argv.includes('-force'));
    expect(undone.map((b) => b.ns).sort()).toEqual(['n1', 'n2']);
    for (const b of undone) expect(b.lines).toEqual(['addr del 198.18.0.2/24 dev eth0']);
  });
});

describe('execute: the journal of a names file step', () => {
  it('keeps the paths a file step touches but not the content it writes (it is never read back from the journal)', async () => {
    const head = '# tsnet:t:hosts.a - managed by tsnet, edits are replaced\n';
    const body = '198.18.0.2\tb b.t\n'.repeat(2000);
    const previous = `198.18.0.9\tc c.t\n`;
    const write: Step = {
      ...stepOf('local', 'hosts.a', 'write'),
      tool: 'file',
      action: 'update',
      description: 'write /etc/netns/t-a/hosts',
      do: [['write', '/etc/netns/t-a/hosts', b64(head), b64(body)]],
      undo: [{ host: 'local', ns: null, tool: 'file', argv: ['write', '/etc/netns/t-a/hosts', b64(head), b64(previous)] }],
      after: [],
    };
    const files: FileOp[][] = [];
    const runner: Runner = {
      host: 'local',
      machine: 'local',
      describe: 'fake',
      files: { read: () => new Map(), apply: (ops) => (files.push([...ops]), { stdout: ops.map((_, i) => `ok ${i + 1}`).join('\n'), stderr: '', exitCode: 0 }) },
      run: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
      listNetns: async () => [],
      close: async () => {},
    };
    const journal = new Journal('t', mkdtempSync(join(tmpdir(), 'tsnet-journal-')));
    const res = await execute({ ...plan, steps: [write] }, { runners: new Map([['local', runner]]), concurrency: 1, journal });
    expect(res.ok).toBe(true);
    expect(files[0]![0]).toEqual({ op: 'write', path: '/etc/netns/t-a/hosts', owner: 't:hosts.a', head: b64(head), body: b64(body) }); // the content is written
    const text = readFileSync(journal.path, 'utf8');
    expect(text.length).toBeLessThan(2000);
    const journaled = journal.read()!.header.steps[0]!;
    expect(journaled.do).toEqual([['write', '/etc/netns/t-a/hosts']]);
    expect(journaled.undo.map((c) => c.argv)).toEqual([['write', '/etc/netns/t-a/hosts']]);
    expect(write.do[0]![3]).toBe(b64(body)); // the plan's own step keeps it (rollback runs from it)
  });
});
