// dist/ is what bin/tsnet.js runs: tests that run the CLI build it first when it is missing or
// older than any source file (tsc, the precompiled schema validator, the bundle: `npm run build`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export function ensureBuilt(): void {
  const outputs = [join(ROOT, 'dist', 'cli', 'main.js'), join(ROOT, 'dist', 'model', 'topology-validator.js'), join(ROOT, 'dist', 'bundle', 'main.js')];
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return Math.max(max, newest(p));
      return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? Math.max(max, statSync(p).mtimeMs) : max;
    }, 0);
  const sources = newest(join(ROOT, 'src'));
  if (outputs.every((o) => existsSync(o) && statSync(o).mtimeMs >= sources)) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-validator.mjs')], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-bundle.mjs')], { cwd: ROOT, stdio: 'pipe' });
}
