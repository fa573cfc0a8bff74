// The lab guard without vitest, for helper programs the kernel tests start as processes of their
// own (test/support/killed-run.ts): the same check as test/support/lab.ts.
import { checkLab } from '../../src/lab-check.js';

const LAB = checkLab();

export function assertInLab(argv: readonly string[]): void {
  if (!LAB.inLab) throw new Error(`refusing to run "${argv.join(' ')}" outside the lab: ${LAB.reason}`);
}
