// `sysctl -q -w k=v ...`: one process for a round's sysctl steps in a namespace, each setting
// a real argument (values may hold spaces). It does not say which argument failed: the batch's
// first step is named, and undone whole.
import { oneLine } from '../../state/read.js';
import type { Runner } from '../../state/runner.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

/** A sysctl `key=value` argument: one argv entry (never a shell word), refused if it could span lines. */
export function sysctlArg(argv: readonly string[]): string {
  const arg = argv.join(' ');
  if (/[\n\r\0]/.test(arg) || !/^net\.[A-Za-z0-9_.-]+=/.test(arg)) throw new Error(`internal: refusing sysctl argument ${JSON.stringify(arg)}`);
  return arg;
}

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const args = batch.steps.flatMap((s) => s.do.map(sysctlArg));
  const res = await runner.run(['sysctl', '-q', '-w', ...args], { ns: batch.ns });
  if (res.exitCode === 0) return { done: batch.steps };
  const step = batch.steps[0]!;
  return { done: [], partial: step, failure: { step, error: oneLine(res.stderr) || `sysctl exited with ${res.exitCode}`, command: `sysctl -w ${args.join(' ')}` } };
}

export const sysctl: ToolModule = {
  name: 'sysctl',
  program: 'sysctl',
  line: sysctlArg,
  run,
  async undo(runner, _host, ns, argvs) {
    const res = await runner.run(['sysctl', '-q', '-w', ...argvs.map(sysctlArg)], { ns });
    return res.exitCode === 0 ? [] : [`sysctl in ${ns ?? 'host'}: ${oneLine(res.stderr)}`];
  },
};
