// tsnet destroy FILE: remove everything the topology owns, in reverse order, and nothing else.
import { closeRunners, planSession } from '../../engine/index.js';
import { withEngineErrors } from '../engine-errors.js';
import { runPlan } from '../run-plan.js';
import { lockTopology } from './apply.js';

export interface DestroyOptions {
  autoApprove?: boolean;
  json?: boolean;
  quiet?: boolean;
  lockTimeout?: string;
  /** false with --no-refresh. */
  refresh?: boolean;
}

export async function destroyCommand(file: string, opts: DestroyOptions): Promise<void> {
  const { lock, loaded } = await lockTopology(file, `tsnet destroy ${file}`, opts.json, opts.lockTimeout);
  try {
    const s = await withEngineErrors(opts.json, () => planSession(file, 'destroy', { loaded, refresh: opts.refresh !== false }));
    try {
      await runPlan(s, file, 'destroy', opts);
    } finally {
      await closeRunners(s.runners);
    }
  } finally {
    lock.release();
  }
}
