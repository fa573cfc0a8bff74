// The example pipeline must only use commands and flags the CLI really has, and the merge job
// must apply the very plan the pull request showed (its saved artifact), never a new one.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const WORKFLOW = join(import.meta.dirname, '..', '..', 'examples', 'gitops', '.github', 'workflows', 'tsnet.yml');

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
}

interface Job {
  if?: string;
  steps: Step[];
}

interface Workflow {
  jobs: Record<string, Job>;
}

const workflow = (): Workflow => parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;

/** Every tsnet invocation in a job's run scripts (all jobs' by default), as argv after "tsnet". */
function tsnetInvocations(jobs: Job[] = Object.values(workflow().jobs)): string[][] {
  const out: string[][] = [];
  for (const job of jobs) {
    for (const step of job.steps) {
      for (const line of (step.run ?? '').split('\n')) {
        const m = /(?:^|\s|\()(?:sudo\s+)?tsnet\s+(.*)$/.exec(line);
        if (!m) continue;
        // Up to a redirection, pipe or shell operator; quotes removed.
        const words = m[1]!.split(/\s+(?=[>|&;)])|\s*(?:>|\|\||&&|\|)\s*/)[0]!.trim().split(/\s+/);
        out.push(words.map((w) => w.replace(/^["']|["']$/g, '')));
      }
    }
  }
  return out;
}

/** The job that runs on `event` (by its `if:`). */
function jobOn(event: string): Job {
  const jobs = Object.values(workflow().jobs).filter((j) => (j.if ?? '').includes(`github.event_name == '${event}'`));
  expect(jobs, `exactly one job runs on ${event}`).toHaveLength(1);
  return jobs[0]!;
}

function longFlags(cmd: Command): Map<string, boolean> {
  // flag -> takes a value
  return new Map(cmd.options.map((o) => [o.long ?? o.short ?? '', o.required || o.optional]));
}

describe('examples/gitops workflow', () => {
  const invocations = tsnetInvocations();
  const program = buildProgram();

  it('calls tsnet for validate, plan, graph, apply, show, the drift check and the checks', () => {
    const commands = invocations.map((a) => a[0]);
    for (const c of ['validate', 'plan', 'graph', 'apply', 'show', 'check', 'confirm']) expect(commands).toContain(c);
    // The checks gate the apply on merge: a failing one rolls it back at once.
    expect(invocations.some((a) => a[0] === 'apply' && a.includes('--check') && a.includes('--confirm-within'))).toBe(true);
    expect(invocations.some((a) => a[0] === 'plan' && a.includes('--detailed-exitcode'))).toBe(true);
    expect(invocations.some((a) => a[0] === 'plan' && a.includes('--out'))).toBe(true);
    expect(invocations.some((a) => a[0] === 'apply' && a[1]!.endsWith('plan.json'))).toBe(true);
  });

  it('the pull request job saves its plan and keeps it as an artifact', () => {
    const pr = jobOn('pull_request');
    const plan = tsnetInvocations([pr]).find((a) => a[0] === 'plan' && a.includes('--out'));
    expect(plan, 'the pull request job runs tsnet plan --out').toBeDefined();
    const saved = plan![plan!.indexOf('--out') + 1]!;
    const upload = pr.steps.find((st) => st.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.with).toMatchObject({ name: 'plan', path: saved });
  });

  it('the merge job applies the plan the pull request showed, from its artifact, and never plans again', () => {
    const pr = jobOn('pull_request');
    const save = tsnetInvocations([pr]).find((a) => a[0] === 'plan' && a.includes('--out'))!;
    const saved = basename(save[save.indexOf('--out') + 1]!);
    const artifact = String(pr.steps.find((st) => st.uses?.startsWith('actions/upload-artifact@'))!.with!.name);
    const merge = jobOn('push');
    const calls = tsnetInvocations([merge]);
    expect(calls.filter((a) => a[0] === 'plan'), 'no new plan on merge').toEqual([]);
    // The artifact of the pull request's run, downloaded into a directory...
    const steps = merge.steps.map((st) => st.run ?? '');
    const fetchAt = steps.findIndex((r) => new RegExp(`gh run download "?\\$run"? --name ${artifact} --dir (\\S+)`).test(r));
    expect(fetchAt, 'the merge job downloads the pull request run\'s plan artifact').toBeGreaterThanOrEqual(0);
    const dir = new RegExp(`--name ${artifact} --dir (\\S+)`).exec(steps[fetchAt]!)![1]!;
    // ...of the last successful pull_request run of this workflow on the merged pull request's head.
    expect(steps[fetchAt]).toMatch(/gh api "repos\/\$GITHUB_REPOSITORY\/commits\/\$GITHUB_SHA\/pulls"/);
    expect(steps[fetchAt]).toMatch(/gh run list --workflow tsnet\.yml --event pull_request --commit "\$head" --status success/);
    // ...is what is applied, after it is fetched.
    const applyAt = steps.findIndex((r) => /tsnet apply /.test(r));
    expect(applyAt).toBeGreaterThan(fetchAt);
    // Checked once applied: a failing check rolls it back at once, else it is confirmed.
    expect(calls.filter((a) => a[0] === 'apply')).toEqual([['apply', `${dir}/${saved}`, '--lock-timeout', expect.any(String), '--check', '--confirm-within', expect.any(String)]]);
  });

  it('the merge job runs on a push only; by hand, the drift check runs', () => {
    expect(jobOn('push').if).toBe("github.event_name == 'push'");
    expect(jobOn('workflow_dispatch')).toEqual(jobOn('schedule'));
  });

  for (const argv of invocations) {
    it(`tsnet ${argv.join(' ')}`, () => {
      const cmd = program.commands.find((c) => c.name() === argv[0]);
      expect(cmd, `no command "${argv[0]}"`).toBeDefined();
      const flags = longFlags(cmd!);
      for (let i = 1; i < argv.length; i++) {
        const word = argv[i]!;
        if (!word.startsWith('-')) continue;
        const [name, inline] = word.split('=');
        expect(flags.has(name!), `"${name}" is not a flag of "tsnet ${argv[0]}" (flags: ${[...flags.keys()].join(' ')})`).toBe(true);
        if (flags.get(name!) && inline === undefined) i++; // its value
      }
      const choices = cmd!.options.find((o) => o.long === '--format')?.argChoices;
      const f = argv.indexOf('--format');
      if (f > 0 && choices) expect(choices).toContain(argv[f + 1]);
    });
  }
});
