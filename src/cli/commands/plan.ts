// tsnet plan FILE: what apply would change, read from the live kernel.
import { closeRunners, planSession } from '../../engine/index.js';
import { renderPlan, summaryLine } from '../../planner/render.js';
import { withEngineErrors } from '../engine-errors.js';
import { EXIT, ExitError } from '../errors.js';
import { useColor, writeJson } from '../output.js';
import { hostDescriptions, planToJson } from '../plan-json.js';

export interface PlanOptions {
  json?: boolean;
  out?: string;
  detailedExitcode?: boolean;
  quiet?: boolean;
  /** false with --no-refresh. */
  refresh?: boolean;
}

export async function planCommand(file: string, opts: PlanOptions): Promise<void> {
  const s = await withEngineErrors(opts.json, () => planSession(file, 'apply', { refresh: opts.refresh !== false }), 'plan');
  try {
    const { plan } = s;
    if (opts.out && !plan.errors.length) {
      const { savePlan } = await import('../saved-plan.js');
      await savePlan(opts.out, s);
    }
    if (opts.json) writeJson(planToJson(plan, file));
    // A plan with errors is an error: all of it goes to stderr, quiet or not.
    else if (plan.errors.length) process.stderr.write(`${renderPlan(plan, { file, color: useColor(process.stderr), hostDescriptions: hostDescriptions(s.runners) })}\n`);
    else if (opts.quiet) process.stdout.write(`${summaryLine(plan, { file })}\n`);
    else process.stdout.write(`${renderPlan(plan, { file, color: useColor(), hostDescriptions: hostDescriptions(s.runners) })}\n`);
    if (opts.out && !plan.errors.length && !opts.json && !opts.quiet) process.stdout.write(`\nSaved the plan to ${opts.out}. Run "tsnet apply ${opts.out}" to carry out exactly this plan.\n`);
    if (plan.errors.length) throw new ExitError('', EXIT.error, true);
    if (opts.detailedExitcode && plan.changes.length) throw new ExitError('', EXIT.changes, true);
  } finally {
    await closeRunners(s.runners);
  }
}
