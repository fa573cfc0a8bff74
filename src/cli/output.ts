// Terminal manners: colour only on a terminal and never with NO_COLOR; errors on stderr.
import type { Diagnostic } from '../model/diagnostics.js';
import { count, formatDiagnostic, SourceLines } from '../model/diagnostics.js';

export const JSON_FORMAT_VERSION = '1.5';

export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export interface Painter {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
}

export function painter(enabled: boolean): Painter {
  const wrap = (code: string) => (s: string) => (enabled ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap('1'), dim: wrap('2'), green: wrap('32'), yellow: wrap('33'), red: wrap('31'), cyan: wrap('36') };
}

/** Diagnostics printed in full; the rest are counted (--json lists them all). */
export const MAX_PRINTED = 100;

export function printDiagnostics(diags: readonly Diagnostic[], sources: ReadonlyMap<string, string>, { limit = MAX_PRINTED }: { limit?: number } = {}): void {
  const color = useColor(process.stderr);
  // Each file's lines are indexed once, however many diagnostics point into it.
  const lines = new Map<string, SourceLines>();
  const linesOf = (file: string) => {
    const text = sources.get(file);
    if (text === undefined) return undefined;
    if (!lines.has(file)) lines.set(file, new SourceLines(text));
    return lines.get(file);
  };
  for (const d of diags.slice(0, limit)) process.stderr.write(`${formatDiagnostic(d, linesOf(d.file), color)}\n\n`);
  if (diags.length > limit) process.stderr.write(`... and ${count(diags.length - limit)} more not shown (--json lists every one)\n\n`);
  const errors = diags.filter((d) => d.severity === 'error').length;
  const warnings = diags.length - errors;
  if (diags.length) {
    const parts = [errors && `${count(errors)} error${errors === 1 ? '' : 's'}`, warnings && `${count(warnings)} warning${warnings === 1 ? '' : 's'}`].filter(Boolean);
    process.stderr.write(`${parts.join(', ')}\n`);
  }
}

export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
