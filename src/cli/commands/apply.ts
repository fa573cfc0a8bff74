// tsnet apply FILE: make the kernel match the file (or carry out a saved plan).
import { closeRunners, planSession } from '../../engine/index.js';
import { withEngineErrors } from '../engine-errors.js';
import { runPlan } from '../run-plan.js';

export interface ApplyOptions {
  autoApprove?: boolean;
  json?: boolean;
  quiet?: boolean;
  lockTimeout?: string;
  confirmWithin?: string;
}

export async function applyCommand(file: string, opts: ApplyOptions): Promise<void> {
  const s = await withEngineErrors(opts.json, () => planSession(file, 'apply'));
  try {
    await runPlan(s, file, 'apply', opts);
  } finally {
    await closeRunners(s.runners);
  }
}
