// Saved plans and JSON output (README "GitOps", "JSON output"). `plan FILE --out P` then
// `apply P` carries out exactly that plan without asking; it is refused (exit 1, the kernel
// unchanged) once the kernel moved: after it was applied, after an mtu or an address changed by
// hand (with the lines that differ), when the topology file changed, and when a foreign object
// took a name the plan creates. Undoing the hand-made change makes the plan good again. The
// JSON of plan, apply, destroy and show is one document (or one object per line) with
// format_version 1.x and nothing else on stdout; plans validate against schemas/plan.schema.json;
// a failing apply reports step_failed and rolled_back; a plan error ends with a result line.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FORMAT_1X, jsonLines, planSchemaErrors, type JsonLine } from '../support/json.js';
import { FIXTURES, describeInLab, must, planChanges, removeAll, run, tsnet } from '../support/lab.js';

const FIXTURE = join(FIXTURES, 'gitops-saved.yaml');
const NETNS = ['kgo-a', 'kgo-b'];
const BRIDGE = 'tsn-front';

interface SavedPlan {
  format_version: string;
  kind: string;
  topology: string;
  file: string;
  file_sha256: string;
  state: { sha256: string; lines: string[] };
  plan: { summary: { add: number; change: number; destroy: number }; steps: { id: string }[]; changes: unknown[] };
}

const readSaved = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as SavedPlan;
const withoutType = ({ type: _type, ...rest }: JsonLine) => rest;

describeInLab('gitops: saved plans', () => {
  let dir: string;
  let file: string;
  let empty: KernelDump;
  const saved = (name: string) => join(dir, name);

  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    // The topology file is edited by one test, and a saved plan names it by absolute path: a copy.
    dir = mkdtempSync(join(tmpdir(), 'tsnet-saved-plan-'));
    file = join(dir, 'topology.yaml');
    copyFileSync(FIXTURE, file);
    empty = await quietDump();
  });
  afterAll(async () => {
    if (file) await tsnet('destroy', '--auto-approve', '-q', file);
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync('/run/tsnet/kgo.journal.json', { force: true });
    rmSync('/run/tsnet/kgo.progress', { force: true });
  });

  it('plan --out, then apply PLAN carries out exactly that plan without asking (exit 0); applying it again is refused', async () => {
    const plan = await tsnet('plan', file, '--out', saved('create.json'));
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).toContain(`Saved the plan to ${saved('create.json')}. Run "tsnet apply ${saved('create.json')}"`);
    const p = readSaved(saved('create.json'));
    expect(p).toMatchObject({ kind: 'tsnet-plan', topology: 'kgo', file, format_version: expect.stringMatching(FORMAT_1X) });
    expect(p.plan.summary).toEqual({ add: 10, change: 0, destroy: 0 });
    expect(planSchemaErrors(p.plan)).toEqual([]);

    // stdin is an empty pipe, not a terminal: a topology file would be refused without
    // --auto-approve (engine-cli.test.ts); a saved plan is not asked about.
    const apply = await tsnet('apply', '--json', saved('create.json'));
    expect(apply.code, apply.all).toBe(0);
    const lines = jsonLines(apply.stdout);
    expect(lines[0]!.type).toBe('plan');
    expect(withoutType(lines[0]!)).toEqual(p.plan);
    const ids = (type: string) => lines.filter((l) => l.type === type).map((l) => l.step as string).sort();
    const planned = p.plan.steps.map((s) => s.id).sort();
    expect(ids('step_started')).toEqual(planned);
    expect(ids('step_finished')).toEqual(planned);
    expect(lines.at(-1)).toMatchObject({ type: 'result', ok: true, summary: { add: 10, change: 0, destroy: 0 } });
    expect((await tsnet('plan', '--detailed-exitcode', file)).code).toBe(0);

    // The kernel is no longer what the plan was made from.
    const before = await quietDump();
    const again = await tsnet('apply', saved('create.json'));
    expect(again.code, again.all).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`the kernel changed since this plan was made (${saved('create.json')}, `);
    expect(again.stderr).toContain('  + local: ns kgo-a sandbox.a lo=up');
    expect(again.stderr).toContain(`Make a new plan with "tsnet plan ${file} --out ${saved('create.json')}"`);
    expect(await settledDump(before)).toEqual(before);
  });

  it('a hand-made change between plan and apply (mtu, then an address) is refused with the lines that differ; undone, the plan is good again', async () => {
    // Right after an apply, whose verified state --no-refresh would reuse: the check reads afresh.
    expect((await tsnet('plan', file, '--out', saved('same.json'))).code).toBe(0);
    await must(['ip', 'link', 'set', 'eth0', 'mtu', '1400'], { ns: 'kgo-a' });
    const fresh = await tsnet('apply', saved('same.json'));
    expect(fresh.code, fresh.all).toBe(1);
    expect(fresh.stderr).toMatch(/^ {2}\+ local: link kgo-a eth0 endpoint\.a\.eth0 kind=veth mtu=1400 /m);
    await must(['ip', 'link', 'set', 'eth0', 'mtu', '1500'], { ns: 'kgo-a' });

    // Drift first, so that the saved plan has work to do: b loses its address and, with it,
    // its default route.
    await must(['ip', 'addr', 'flush', 'dev', 'eth0'], { ns: 'kgo-b' });
    const plan = await tsnet('plan', file, '--out', saved('repair.json'));
    expect(plan.code, plan.all).toBe(0);
    expect(planChanges(plan.stdout)).toEqual(['~ endpoint.b.eth0', '+ route.b.default']);

    await must(['ip', 'link', 'set', 'eth0', 'mtu', '1400'], { ns: 'kgo-a' });
    let before = await quietDump();
    const mtu = await tsnet('apply', saved('repair.json'));
    expect(mtu.code, mtu.all).toBe(1);
    expect(mtu.stdout).toBe('');
    expect(mtu.stderr).toContain('the kernel changed since this plan was made');
    expect(mtu.stderr).toMatch(/^ {2}- local: link kgo-a eth0 endpoint\.a\.eth0 kind=veth mtu=1500 up .*addrs=198\.18\.84\.10\/24$/m);
    expect(mtu.stderr).toMatch(/^ {2}\+ local: link kgo-a eth0 endpoint\.a\.eth0 kind=veth mtu=1400 up .*addrs=198\.18\.84\.10\/24$/m);
    expect(await settledDump(before)).toEqual(before);

    await must(['ip', 'link', 'set', 'eth0', 'mtu', '1500'], { ns: 'kgo-a' });
    await must(['ip', 'addr', 'add', '198.18.84.99/24', 'dev', 'eth0'], { ns: 'kgo-a' });
    before = await quietDump();
    const address = await tsnet('apply', saved('repair.json'));
    expect(address.code, address.all).toBe(1);
    expect(address.stderr).toContain('the kernel changed since this plan was made');
    expect(address.stderr).toMatch(/^ {2}\+ local: link kgo-a eth0 endpoint\.a\.eth0 .*addrs=198\.18\.84\.10\/24,198\.18\.84\.99\/24$/m);
    expect(await settledDump(before)).toEqual(before);

    // Undone by hand: the kernel is what the plan was made from, so it is carried out.
    await must(['ip', 'addr', 'del', '198.18.84.99/24', 'dev', 'eth0'], { ns: 'kgo-a' });
    const apply = await tsnet('apply', saved('repair.json'));
    expect(apply.code, apply.all).toBe(0);
    expect(apply.stdout).toContain('Apply complete! Resources: 1 added, 1 changed, 0 destroyed.');
    expect((await tsnet('plan', '--detailed-exitcode', file)).code).toBe(0);
  });

  it('a saved plan whose steps were edited, or that is cut short, is refused with a clear message, and nothing changes', async () => {
    const plan = await tsnet('plan', file, '--out', saved('edited.json'));
    expect(plan.code, plan.all).toBe(0);
    const p = readSaved(saved('edited.json'));
    const before = await quietDump();
    // The file and the kernel are as they were: only the steps differ, by one added by hand.
    (p.plan.steps as unknown[]).push({
      id: 'local|sandbox.x|create',
      host: 'local',
      address: 'sandbox.x',
      phase: 'create',
      ns: null,
      tool: 'ip',
      action: 'create',
      isDeletion: false,
      description: 'x',
      do: [['link', 'del', 'dev', 'tsn-kgo-x']],
      undo: [],
      creates: [],
      deletes: [],
      marks: [],
      after: [],
    });
    writeFileSync(saved('edited.json'), JSON.stringify(p));
    const edited = await tsnet('apply', saved('edited.json'));
    expect(edited.code, edited.all).toBe(1);
    expect(edited.stderr).toContain(`the steps in ${saved('edited.json')} are not the ones tsnet plans for ${file} now`);
    const { plan: _plan, ...cut } = p;
    writeFileSync(saved('cut.json'), JSON.stringify(cut));
    const short = await tsnet('apply', saved('cut.json'));
    expect(short.code, short.all).toBe(1);
    expect(short.stderr).toContain(`${saved('cut.json')} is not a complete saved plan ("plan" is missing)`);
    expect(short.all).not.toContain('internal error');
    expect(await settledDump(before)).toEqual(before);
  });

  it('a change to the topology file since the plan is refused, and nothing changes', async () => {
    await must(['ip', 'addr', 'flush', 'dev', 'eth0'], { ns: 'kgo-b' });
    expect((await tsnet('plan', file, '--out', saved('edited.json'))).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, `${text}# edited after the plan was made\n`);
    try {
      const before = await quietDump();
      const res = await tsnet('apply', saved('edited.json'));
      expect(res.code, res.all).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(`the topology file ${file} changed since the plan ${saved('edited.json')} was made`);
      expect(await settledDump(before)).toEqual(before);
    } finally {
      writeFileSync(file, text);
    }
    expect((await tsnet('apply', '--auto-approve', '-q', file)).code).toBe(0);
  });

  it('a foreign object taking a name the plan creates is refused, and nothing changes', async () => {
    expect((await tsnet('destroy', '--auto-approve', '-q', file)).code).toBe(0);
    expect((await tsnet('plan', file, '--out', saved('fresh.json'))).code).toBe(0);
    await must(['ip', 'netns', 'add', 'kgo-b']);
    await must(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
    try {
      const before = await quietDump();
      const res = await tsnet('apply', saved('fresh.json'));
      expect(res.code, res.all).toBe(1);
      expect(res.stderr).toContain('the kernel changed since this plan was made');
      expect(res.stderr).toContain('  + local: taken netns kgo-b');
      expect(res.stderr).toContain(`  + local: taken link - ${BRIDGE}`);
      expect(await settledDump(before)).toEqual(before);
    } finally {
      await run(['ip', 'netns', 'del', 'kgo-b']);
      await run(['ip', 'link', 'del', BRIDGE]);
    }
    expect(await settledDump(empty)).toEqual(empty);
  });
});

describeInLab('gitops: JSON output', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: [BRIDGE] });
    empty = await quietDump();
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', FIXTURE);
    await tsnet('destroy', '--auto-approve', '-q', join(FIXTURES, 'fanout-clash.yaml'));
    await removeAll({ netns: [...NETNS, ...[0, 1, 2, 3, 4, 5].map((i) => `fanout-s${i}`)], links: [BRIDGE, 'tsn-fan'] });
  });

  it('plan --json is one document valid against schemas/plan.schema.json, and nothing else', async () => {
    const res = await tsnet('plan', '--json', FIXTURE);
    expect(res.code, res.all).toBe(0);
    expect(res.stderr).toBe('');
    const doc = JSON.parse(res.stdout) as { format_version: string; summary: unknown; changes: unknown[] };
    expect(doc.format_version).toMatch(FORMAT_1X);
    expect(planSchemaErrors(doc)).toEqual([]);
    expect(doc.summary).toEqual({ add: 10, change: 0, destroy: 0 });
  });

  it('apply, show and destroy --json: one object per line (one document for show), each format 1.x, ending in a result line', async () => {
    const apply = await tsnet('apply', '--auto-approve', '--json', FIXTURE);
    expect(apply.code, apply.all).toBe(0);
    const lines = jsonLines(apply.stdout);
    for (const l of lines) expect(l.format_version, JSON.stringify(l)).toMatch(FORMAT_1X);
    expect(lines[0]!.type).toBe('plan');
    expect(planSchemaErrors(withoutType(lines[0]!))).toEqual([]);
    expect(planSchemaErrors(lines[0])).toEqual([]);
    const types = new Set(lines.slice(1, -1).map((l) => l.type));
    expect([...types].sort()).toEqual(['step_finished', 'step_started']);
    const started = lines.filter((l) => l.type === 'step_started');
    expect(started).toHaveLength(14);
    for (const s of started) expect(s).toMatchObject({ step: expect.any(String), host: 'local', address: expect.any(String), description: expect.any(String), at: expect.any(String) });
    expect(lines.at(-1)).toMatchObject({ type: 'result', ok: true, summary: { add: 10, change: 0, destroy: 0 } });

    const show = await tsnet('show', '--json', FIXTURE);
    expect(show.code, show.all).toBe(0);
    const doc = JSON.parse(show.stdout) as { format_version: string; topology: string; missing: string[]; interfaces: { sandbox: string; interface: string }[] };
    expect(doc.format_version).toMatch(FORMAT_1X);
    expect(doc).toMatchObject({ topology: 'kgo', missing: [] });
    expect(doc.interfaces.filter((i) => i.interface === 'eth0').map((i) => i.sandbox).sort()).toEqual(['a', 'b']);

    const destroy = await tsnet('destroy', '--auto-approve', '--json', FIXTURE);
    expect(destroy.code, destroy.all).toBe(0);
    const dlines = jsonLines(destroy.stdout);
    for (const l of dlines) expect(l.format_version).toMatch(FORMAT_1X);
    expect(dlines[0]!.type).toBe('plan');
    expect(planSchemaErrors(dlines[0])).toEqual([]);
    expect(dlines.at(-1)).toMatchObject({ type: 'result', ok: true, summary: { add: 0, change: 0, destroy: 10 } });
    expect(await settledDump(empty)).toEqual(empty);

    // Nothing to do: still a plan line and a result line.
    const nothing = jsonLines((await tsnet('destroy', '--auto-approve', '--json', FIXTURE)).stdout);
    expect(nothing.map((l) => l.type)).toEqual(['plan', 'result']);
    expect(nothing[1]).toMatchObject({ ok: true, summary: { add: 0, change: 0, destroy: 0 } });
  });

  it('a failing apply with --json reports step_failed, rollback_started and rolled_back, then a result with ok false', async () => {
    // fanout-clash.yaml: the kernel refuses s4's route to its own subnet in s4's own batch.
    const res = await tsnet('apply', '--auto-approve', '--json', join(FIXTURES, 'fanout-clash.yaml'));
    expect(res.code, res.all).toBe(1);
    const lines = jsonLines(res.stdout);
    for (const l of lines) expect(l.format_version).toMatch(FORMAT_1X);
    const failed = lines.find((l) => l.type === 'step_failed');
    expect(failed).toMatchObject({ address: 'route.s4.198.18.90.0/24', error: expect.stringContaining('File exists') });
    const order = lines.map((l) => l.type).filter((t) => ['step_failed', 'rollback_started', 'rolled_back', 'result'].includes(t));
    expect(order).toEqual(['step_failed', 'rollback_started', 'rolled_back', 'result']);
    expect(lines.find((l) => l.type === 'rolled_back')).toMatchObject({ errors: [] });
    expect(lines.at(-1)).toMatchObject({ type: 'result', ok: false, rolled_back: true, restored: true, failed: { step: 'local|route.s4.198.18.90.0/24|create' } });
    expect(await settledDump(empty)).toEqual(empty);
  });

  it('an apply --json whose plan has an error ends with a result line naming it', async () => {
    await must(['ip', 'netns', 'add', 'kgo-a']);
    try {
      const res = await tsnet('apply', '--auto-approve', '--json', FIXTURE);
      expect(res.code, res.all).toBe(1);
      const lines = jsonLines(res.stdout);
      expect(lines.map((l) => l.type)).toEqual(['plan', 'result']);
      expect(planSchemaErrors(lines[0])).toEqual([]);
      expect(lines[0]!.errors).toEqual([expect.objectContaining({ address: 'sandbox.a' })]);
      expect(lines[1]).toMatchObject({ format_version: expect.stringMatching(FORMAT_1X), ok: false, errors: [expect.objectContaining({ address: 'sandbox.a' })] });
    } finally {
      await run(['ip', 'netns', 'del', 'kgo-a']);
    }
  });
});
