// dist/ is what bin/tsnet.js runs: tests that run the CLI build it first when it is missing or
// older than any source file (tsc, then the precompiled schema validator, as `npm run build`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export function ensureBuilt(): void {
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  const validator = join(ROOT, 'dist', 'model', 'topology-validator.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return Math.max(max, newest(p));
      return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? Math.max(max, statSync(p).mtimeMs) : max;
    }, 0);
  const sources = newest(join(ROOT, 'src'));
  if (existsSync(main) && existsSync(validator) && statSync(main).mtimeMs >= sources && statSync(validator).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-validator.mjs')], { cwd: ROOT, stdio: 'pipe' });
}
