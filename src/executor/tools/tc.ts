// `tc -batch -`: qdisc changes, one process per namespace and round. Like ip's batches without
// markers or reads (a qdisc step is one line): tc stops at the first failed line and names it
// "Command failed -:N", so the steps before it ran and the rest did not. Undo lines run with
// -force, so one error does not stop the rest.
import type { Runner } from '../../state/runner.js';
import { batchLine, forceBatch, inputOf, linesOf, outcomeOf } from './stdin-batch.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

const ARGV = ['tc', '-batch', '-'];

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const lines = linesOf(batch, batchLine);
  return outcomeOf(batch, lines, await runner.run(ARGV, { ns: batch.ns, input: inputOf(lines, []) }), { readBack: false, argv: ARGV });
}

export const tc: ToolModule = {
  name: 'tc',
  program: 'tc',
  line: batchLine,
  run,
  undo: (runner, host, ns, argvs) => forceBatch(runner, 'tc', host, ns, argvs),
};
