// The example pipeline must only use commands and flags the CLI really has.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const WORKFLOW = join(import.meta.dirname, '..', '..', 'examples', 'gitops', '.github', 'workflows', 'tsnet.yml');

interface Workflow {
  jobs: Record<string, { steps: { run?: string }[] }>;
}

/** Every tsnet invocation in the workflow's run scripts, as argv after "tsnet". */
function tsnetInvocations(): string[][] {
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;
  const out: string[][] = [];
  for (const job of Object.values(wf.jobs)) {
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
    expect(invocations.some((a) => a[0] === 'apply' && a[1] === 'plan.json')).toBe(true);
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
