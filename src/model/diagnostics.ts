// Diagnostics are returned, not thrown (terraform's tfdiags): every problem in a file is
// collected and shown at once, each with the file, line and column of the offending node.

export type Severity = 'error' | 'warning';

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export interface Diagnostic {
  severity: Severity;
  /** Stable, kebab-case code, e.g. "unknown-network". Tests and tools key on it. */
  code: string;
  message: string;
  file: string;
  /** JSON path of the offending node in the file, e.g. "/sandboxes/web/endpoints/0/network". */
  path?: string;
  /** Resource address for semantic errors, e.g. "endpoint.web.eth0". */
  resource?: string;
  start?: Position;
  end?: Position;
  /** One more sentence: what to do, or the nearest known name. */
  hint?: string;
}

export const hasErrors = (diags: readonly Diagnostic[]): boolean =>
  diags.some((d) => d.severity === 'error');

/** Sorted by file, line, column, so output reads top to bottom. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      (a.start?.line ?? 0) - (b.start?.line ?? 0) ||
      (a.start?.col ?? 0) - (b.start?.col ?? 0) ||
      a.code.localeCompare(b.code),
  );
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The nearest candidate, if it is near enough to be a plausible typo. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= limit + (word.length > 6 ? 1 : 0) ? best : undefined;
}

/** Renders one diagnostic like a compiler: header, location, the source line and a caret. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined, color = false): string {
  const paint = (code: string, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const label = d.severity === 'error' ? paint('1;31', 'error') : paint('1;33', 'warning');
  const out = [`${label}${paint('1', `[${d.code}]: ${d.message}`)}`];
  const where = d.start ? `${d.file}:${d.start.line}:${d.start.col}` : d.file;
  out.push(`  --> ${where}${d.resource ? ` (${d.resource})` : ''}`);
  if (d.start && source !== undefined) {
    const lines = source.split(/\r?\n/);
    const text = lines[d.start.line - 1];
    if (text !== undefined) {
      const num = String(d.start.line);
      const pad = ' '.repeat(num.length);
      const endCol =
        d.end && d.end.line === d.start.line && d.end.col > d.start.col ? d.end.col : d.start.col + 1;
      const width = Math.max(1, Math.min(endCol, text.length + 1) - d.start.col);
      out.push(`${pad} |`);
      out.push(`${num} | ${text}`);
      const caret = paint(d.severity === 'error' ? '1;31' : '1;33', '^'.repeat(width));
      out.push(`${pad} | ${' '.repeat(d.start.col - 1)}${caret}${d.hint ? ` ${d.hint}` : ''}`);
      return out.join('\n');
    }
  }
  if (d.hint) out.push(`  = ${d.hint}`);
  return out.join('\n');
}
