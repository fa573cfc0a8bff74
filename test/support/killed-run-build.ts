// Bundles test/support/killed-run.ts (with esbuild, as the CLI is) under node_modules/.cache of
// the checkout (so that its packages resolve from there), and starts it in the lab: runKilled()
// returns when it exits or killed itself.
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT, run, type Ran } from './lab.js';

export async function bundleKilledRun(): Promise<string> {
  const out = join(ROOT, 'node_modules', '.cache', 'tsnet-killed-run', `killed-run-${process.pid}.mjs`);
  await build({
    entryPoints: [join(ROOT, 'test', 'support', 'killed-run.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    // Packages stay where they are (node_modules of the checkout).
    packages: 'external',
    plugins: [
      {
        // faulty-runner.ts's guard, without vitest (which lab.ts imports).
        name: 'lab-guard',
        setup(b) {
          b.onResolve({ filter: /^\.\/lab\.js$/ }, () => ({ path: join(ROOT, 'test', 'support', 'lab-guard.ts') }));
        },
      },
    ],
  });
  return out;
}

export interface KilledRun extends Ran {
  /** True when it killed itself after the chosen line. */
  killed: boolean;
  /** Its result line when it ran to the end. */
  result?: { ok: boolean; lines: number; failed: string | null; rollbackErrors: string[]; rollbackDiff: string[] };
}

/**
 * Runs the bundle: `file` applied (or destroyed), killed after journal line `killAfter` (0: never)
 * or after the first finished batch holding a step whose id contains `killAfterBatchOf` (batches
 * of different kinds may run side by side, so a line number does not always name the same one),
 * line `fault` failing (0: none).
 */
export async function runKilled(
  bundle: string,
  file: string,
  o: { mode?: 'apply' | 'destroy'; killAfter: number; killAfterBatchOf?: string; fault: number; env: Record<string, string> },
): Promise<KilledRun> {
  const r = await run(['node', bundle, file, o.mode ?? 'apply', String(o.killAfter), String(o.fault), ...(o.killAfterBatchOf ? [o.killAfterBatchOf] : [])], { env: o.env });
  const killed = r.code === 137 || (r as { signal?: string }).signal === 'SIGKILL';
  const line = r.stdout.trim().split('\n').pop();
  return { ...r, killed, ...(!killed && r.code === 0 && line ? { result: JSON.parse(line) as KilledRun['result'] } : {}) };
}
