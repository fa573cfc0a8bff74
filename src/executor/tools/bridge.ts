// `bridge -batch -`: forwarding entries of VXLAN devices. Like ip's batches, without markers or
// reads: a failed line is named by `Command failed -:N`.
import type { Runner } from '../../state/runner.js';
import { batchLine, forceBatch, inputOf, linesOf, outcomeOf } from './stdin-batch.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const lines = linesOf(batch, batchLine);
  const argv = ['bridge', '-batch', '-'];
  return outcomeOf(batch, lines, await runner.run(argv, { ns: batch.ns, input: inputOf(lines, []) }), { readBack: false, argv });
}

export const bridge: ToolModule = {
  name: 'bridge',
  program: 'bridge',
  line: batchLine,
  run,
  undo: (runner, host, ns, argvs) => forceBatch(runner, 'bridge', host, ns, argvs),
};
