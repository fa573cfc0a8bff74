// A run of the engine in a process of its own that kills itself with SIGKILL right after its
// journal's K-th progress line is written: kill -9 at a point chosen from the journal's progress,
// exactly (a test polling the file from outside would overshoot). With FAULT > 0 the FAULT-th
// line of the plan fails for real (test/support/faulty-runner.ts), so the run rolls back and its
// rollback's lines can be chosen too. Bundled and started by runKilled() (killed-run-build.ts).
//
//   node killed-run.mjs FILE apply|destroy KILL_AFTER FAULT
//
// Prints one JSON line when it was not killed: {ok, lines, stopped}. Exit 3: the plan had errors.
import { applySession, closeRunners, planSession, type Mode } from '../../src/engine/index.js';
import { Journal } from '../../src/executor/journal.js';
import type { JournalEntry } from '../../src/executor/journal.js';
import { runnerFor } from '../../src/state/runner.js';
import { Fault, FaultyRunner } from './faulty-runner.js';

const [file, mode, killAfter, faultAt, batchOf] = process.argv.slice(2);
let lines = 0;
const record = Journal.prototype.record;
Journal.prototype.record = function (this: Journal, entry: JournalEntry): void {
  record.call(this, entry);
  const batchDone = Boolean(batchOf) && entry.type === 'batch' && entry.done.some((id) => id.includes(batchOf!));
  if (++lines === Number(killAfter) || batchDone) process.kill(process.pid, 'SIGKILL');
};
const fault = new Fault(Number(faultAt));
const s = await planSession(file!, mode as Mode, { runnerFactory: (h) => new FaultyRunner(runnerFor(h), fault) });
if (s.plan.errors.length) {
  process.stdout.write(`${JSON.stringify({ errors: s.plan.errors })}\n`);
  await closeRunners(s.runners);
  process.exit(3);
}
const out = await applySession(s);
await closeRunners(s.runners);
process.stdout.write(`${JSON.stringify({ ok: out.result.ok, lines, failed: out.result.failure?.step.id ?? null, rollbackErrors: out.result.rollbackErrors, rollbackDiff: out.rollbackDiff ?? [] })}\n`);
