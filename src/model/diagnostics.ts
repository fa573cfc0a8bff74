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

/** A count in words people read: 9,999. */
export const count = (n: number): string => n.toLocaleString('en-US');

const moreLikeIt = (more: number): string => ` (and ${count(more)} more like it)`;

/** Where a diagnostic points, as a key: one file, severity, code and position is one place. */
export function placeOf(d: Pick<Diagnostic, 'file' | 'severity' | 'code' | 'start'>): string | undefined {
  return d.start ? `${d.file}\u0000${d.severity}\u0000${d.code}\u0000${d.start.line}:${d.start.col}` : undefined;
}

export interface Collector {
  add(d: Diagnostic): void;
  /** Counts `d` as one more like an earlier one (see collector) and returns true, or returns false. */
  repeat(d: Pick<Diagnostic, 'file' | 'severity' | 'code' | 'start' | 'path' | 'message'>): boolean;
}

/**
 * Adds diagnostics to `out`, each place once: a diagnostic of a code already reported at the same
 * file position, for another path (the alias it was reached through: 10,000 endpoints of one
 * anchor) or with the same message, only counts, "(and 9,999 more like it)", so that a file
 * cannot make us hold, sort or print a million of them. Different problems of one node (a
 * mapping missing two keys) stay apart.
 */
export function collector(out: Diagnostic[]): Collector {
  const seen = new Map<string, { d: Diagnostic; message: string; more: number }>();
  const repeat: Collector['repeat'] = (d) => {
    const place = placeOf(d);
    const prev = place === undefined ? undefined : seen.get(place);
    if (!prev || (prev.d.path === d.path && prev.message !== d.message)) return false;
    prev.more++;
    prev.d.message = `${prev.message}${moreLikeIt(prev.more)}`;
    return true;
  };
  const add = (d: Diagnostic): void => {
    if (repeat(d)) return;
    const place = placeOf(d);
    if (place !== undefined && !seen.has(place)) seen.set(place, { d, message: d.message, more: 0 });
    out.push(d);
  };
  return { add, repeat };
}

/** The diagnostics with repeats at one place folded into the first (see collector). */
export function collapseRepeats(diags: readonly Diagnostic[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { add } = collector(out);
  for (const d of diags) add({ ...d });
  return out;
}

/** A file's lines, indexed once, so that formatting many diagnostics of one file stays linear. */
export class SourceLines {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** Line `n` (1-based) without its line break, or undefined past the end. */
  line(n: number): string | undefined {
    if (!Number.isInteger(n) || n < 1 || n > this.starts.length) return undefined;
    const from = this.starts[n - 1]!;
    let to = n < this.starts.length ? this.starts[n]! - 1 : this.text.length;
    if (to > from && this.text[to - 1] === '\r') to--;
    return this.text.slice(from, to);
  }
}

/** Source lines longer than this are shown as a window around the caret. */
export const MAX_SHOWN = 120;
const CONTEXT_BEFORE = 40;

/** The part of `text` to show for a caret at `col` (1-based) `width` wide: "..." marks what is cut. */
export function clipLine(text: string, col: number, width: number): { shown: string; col: number; width: number } {
  if (text.length <= MAX_SHOWN) return { shown: text, col, width };
  const from = Math.max(0, Math.min(col - 1 - CONTEXT_BEFORE, text.length - MAX_SHOWN));
  const to = Math.min(text.length, from + MAX_SHOWN);
  const head = from > 0 ? '...' : '';
  const shown = `${head}${text.slice(from, to)}${to < text.length ? '...' : ''}`;
  const at = col - from + head.length;
  return { shown, col: at, width: Math.max(1, Math.min(width, to - (col - 1))) };
}

/** Renders one diagnostic like a compiler: header, location, the source line and a caret. */
export function formatDiagnostic(d: Diagnostic, source: SourceLines | string | undefined, color = false): string {
  const paint = (code: string, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const label = d.severity === 'error' ? paint('1;31', 'error') : paint('1;33', 'warning');
  const out = [`${label}${paint('1', `[${d.code}]: ${d.message}`)}`];
  const where = d.start ? `${d.file}:${d.start.line}:${d.start.col}` : d.file;
  out.push(`  --> ${where}${d.resource ? ` (${d.resource})` : ''}`);
  const lines = typeof source === 'string' ? new SourceLines(source) : source;
  const text = d.start && lines ? lines.line(d.start.line) : undefined;
  if (d.start && text !== undefined) {
    const num = String(d.start.line);
    const pad = ' '.repeat(num.length);
    const endCol = d.end && d.end.line === d.start.line && d.end.col > d.start.col ? d.end.col : d.start.col + 1;
    const clip = clipLine(text, d.start.col, Math.max(1, Math.min(endCol, text.length + 1) - d.start.col));
    out.push(`${pad} |`);
    out.push(`${num} | ${clip.shown}`);
    const caret = paint(d.severity === 'error' ? '1;31' : '1;33', '^'.repeat(clip.width));
    out.push(`${pad} | ${' '.repeat(clip.col - 1)}${caret}${d.hint ? ` ${d.hint}` : ''}`);
    return out.join('\n');
  }
  if (d.hint) out.push(`  = ${d.hint}`);
  return out.join('\n');
}
