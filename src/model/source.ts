// A topology file as text + YAML document, with positions for every node (yaml's LineCounter).
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node, type Pair } from 'yaml';
import type { Diagnostic, Position } from './diagnostics.js';

export type PathSegment = string | number;

export interface Span {
  start: Position;
  end: Position;
}

export class SourceFile {
  readonly lineCounter = new LineCounter();
  readonly doc: Document | undefined;
  /** YAML syntax problems, already as diagnostics. */
  readonly syntax: Diagnostic[] = [];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    const docs = parseAllDocuments(text, { lineCounter: this.lineCounter, prettyErrors: false, uniqueKeys: true });
    const list = Array.isArray(docs) ? docs : [];
    this.doc = list[0];
    for (const doc of list) {
      for (const err of doc.errors) {
        const [startOffset, endOffset] = err.pos;
        this.syntax.push({
          severity: 'error',
          code: err.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'yaml-syntax',
          message: err.code === 'DUPLICATE_KEY' ? 'the same key appears twice in one mapping' : firstLine(err.message),
          file,
          start: this.position(startOffset),
          end: this.position(Math.max(endOffset, startOffset + 1)),
        });
      }
    }
    if (list.length > 1) {
      const second = list[1]!;
      const offset = second.range?.[0] ?? 0;
      this.syntax.push({
        severity: 'error',
        code: 'multiple-documents',
        message: 'a topology file holds one YAML document; this is a second one',
        file,
        start: this.position(offset),
      });
    }
  }

  position(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(Math.min(offset, this.text.length));
    return { line, col };
  }

  /** The data as plain JavaScript values. */
  toJS(): unknown {
    return this.doc?.toJS({ maxAliasCount: 100 }) ?? null;
  }

  /**
   * The span of the node at `path`. `which: 'key'` points at the key of the last segment (for
   * unknown keys); when the path does not exist, the nearest existing ancestor is used.
   */
  locate(path: readonly PathSegment[], which: 'key' | 'value' = 'value'): Span | undefined {
    let node: unknown = this.doc?.contents;
    let best: Node | undefined = isNodeLike(node) ? node : undefined;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      let next: unknown;
      let pair: Pair | undefined;
      if (isMap(node)) {
        pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
        next = pair?.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      if (next === undefined && !pair) break;
      const last = i === path.length - 1;
      if (last && which === 'key' && pair && isNodeLike(pair.key)) return this.span(pair.key);
      if (isNodeLike(next)) {
        best = next;
      } else if (pair && isNodeLike(pair.key)) {
        // "key:" with an empty value: point at the key.
        best = pair.key;
        break;
      }
      node = next;
    }
    return best ? this.span(best) : undefined;
  }

  private span(node: Node): Span | undefined {
    const range = node.range;
    if (!range) return undefined;
    let end = range[1];
    // Block collections' ranges run to the next sibling; keep carets on the first line.
    const nl = this.text.indexOf('\n', range[0]);
    if (nl >= 0 && nl < end) end = nl;
    return { start: this.position(range[0]), end: this.position(Math.max(end, range[0] + 1)) };
  }
}

function isNodeLike(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && 'range' in x;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  // yaml appends " at line N, column M"; the diagnostic carries the position already.
  return line.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** "/sandboxes/web/endpoints/0" -> ["sandboxes", "web", "endpoints", 0] (JSON Pointer, RFC 6901). */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function pathToPointer(path: readonly PathSegment[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
