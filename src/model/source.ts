// A topology file as text + YAML document, with positions for every node (yaml's LineCounter).
import {
  Composer,
  LineCounter,
  Parser,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  visit,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import type { Diagnostic, Position } from './diagnostics.js';
import { MAX_ALIAS_EXPANSION, MAX_DEPTH, toData, tooDeep, type AliasProblem } from './yaml-limits.js';

/** yaml errors past this many are reported where yaml puts them, without searching the document for a better place. */
const EXACT_ERRORS = 20;

export type PathSegment = string | number;

export interface Span {
  start: Position;
  end: Position;
}

export class SourceFile {
  readonly lineCounter = new LineCounter();
  readonly doc: Document | undefined;
  /** Problems reading the YAML (syntax, duplicate keys, aliases, keys that are not names), as diagnostics. */
  readonly syntax: Diagnostic[] = [];
  private readonly data: unknown = null;

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    const docs = this.parse(text);
    this.doc = docs[0];
    for (const [i, doc] of docs.entries()) for (const [j, err] of doc.errors.entries()) this.syntax.push(this.yamlError(doc, err, { exact: i === 0 && j < EXACT_ERRORS }));
    if (docs.length > 1) {
      const second = docs[1]!;
      const offset = second.range?.[0] ?? 0;
      this.syntax.push(this.error('multiple-documents', 'a topology file holds one YAML document; this is a second one', offset));
    }
    if (this.syntax.length || !this.doc) return;
    this.duplicateKeys(this.doc);
    if (this.syntax.length) return;
    const hasAliases = this.checkAliases(this.doc);
    if (this.syntax.length) return;
    const result = toData(this.doc, { hasAliases });
    if ('data' in result) this.data = result.data ?? null;
    else this.syntax.push(this.aliasError(result.problem));
  }

  /**
   * The YAML documents of `text`, composed only when no collection nests deeper than MAX_DEPTH
   * (yaml composes recursively: 100,000 nested "[" would exhaust the stack). Keys are kept as
   * written (stringKeys): a network "010" stays "010", not the number 10.
   */
  private parse(text: string): Document[] {
    const tokens = Array.from(new Parser(this.lineCounter.addNewLine).parse(text));
    const deep = tooDeep(tokens);
    if (deep !== undefined) {
      this.syntax.push(
        this.error('yaml-syntax', `the YAML nests deeper than ${MAX_DEPTH} levels here; a topology needs 6`, deep, deep + 1),
      );
      return [];
    }
    // yaml's own uniqueKeys check compares every key with every other (quadratic: seconds for a
    // map of 10,000 sandboxes); duplicateKeys() below does it with a set.
    const composer = new Composer({ uniqueKeys: false, stringKeys: true });
    return Array.from(composer.compose(tokens));
  }

  /** An alias that makes a cycle, or expands to too much, as a diagnostic at the alias. */
  private aliasError({ alias, kind }: AliasProblem): Diagnostic {
    const [from, to] = alias.range ?? [0, 1];
    const name = `*${alias.source}`;
    const message =
      kind === 'cycle'
        ? `the alias "${name}" is inside its own anchor: expanding it never ends`
        : kind === 'depth'
          ? `the alias "${name}" nests the data deeper than ${MAX_DEPTH} levels`
          : `the aliases up to "${name}" expand to more than ${MAX_ALIAS_EXPANSION.toLocaleString('en-US')} nodes: the file would be enormous`;
    return this.error('yaml-aliases', message, from, to, kind === 'cycle' ? 'refer to an anchor outside it' : 'write the repeated parts out, or repeat less');
  }

  private error(code: string, message: string, offset: number, endOffset?: number, hint?: string): Diagnostic {
    return {
      severity: 'error',
      code,
      message,
      file: this.file,
      start: this.position(offset),
      end: this.position(Math.max(endOffset ?? offset + 1, offset + 1)),
      ...(hint ? { hint } : {}),
    };
  }

  /** A yaml parse error as a diagnostic, pointing at the opening quote or bracket when one is left open. */
  private yamlError(doc: Document, err: YAMLError, { exact }: { exact: boolean }): Diagnostic {
    const [startOffset, endOffset] = err.pos;
    if (err.code === 'NON_STRING_KEY') {
      // stringKeys: a key that is a list, a mapping, an alias or a tagged value.
      const key = exact ? this.nodeAt(doc, (n, isKey) => isKey && n.range?.[0] === startOffset) : undefined;
      const what = !key ? 'a list, mapping, alias or tagged value' : isMap(key) ? 'a mapping' : isSeq(key) ? 'a list' : isAlias(key) ? 'an alias' : 'a tagged value';
      return this.error('bad-type', `a key must be a plain name, not ${what}`, startOffset, key?.range?.[1] ?? endOffset);
    }
    if (!exact) return this.error('yaml-syntax', firstLine(err.message), startOffset, endOffset);
    if (err.code === 'DUPLICATE_KEY') {
      const key = this.nodeAt(doc, (n, isKey) => isKey && n.range?.[0] === startOffset);
      const name = key && isScalar(key) ? String(key.value) : undefined;
      return this.error(
        'duplicate-key',
        name !== undefined ? `the key "${name}" appears twice in one mapping` : 'the same key appears twice in one mapping',
        startOffset,
        key?.range?.[1] ?? endOffset,
        'remove one of them, or merge what they hold',
      );
    }
    if (err.code === 'MISSING_CHAR' || (err.code === 'BAD_INDENT' && /end with a [\]}]/.test(err.message))) {
      // yaml reports an unclosed quote or flow collection where the file ends; point at where it opens.
      const open = this.nodeAt(
        doc,
        (n) => n.range?.[1] === startOffset && (isCollection(n) ? n.flow === true : isScalar(n) && /^QUOTE/.test(String(n.type))),
      );
      if (open?.range) {
        const what = isCollection(open) ? (isMap(open) ? 'this "{" is never closed' : 'this "[" is never closed') : 'this quote is never closed';
        return this.error('yaml-syntax', `${firstLine(err.message)}: ${what}`, open.range[0], open.range[0] + 1);
      }
    }
    return this.error('yaml-syntax', firstLine(err.message), startOffset, endOffset);
  }

  /** A key that appears twice in one mapping: reported at its second appearance. */
  private duplicateKeys(doc: Document): void {
    visit(doc, {
      Map: (_k, map) => {
        const seen = new Set<string>();
        for (const pair of map.items) {
          if (!isScalar(pair.key)) continue;
          const name = String(pair.key.value);
          if (seen.has(name)) {
            const [start, end] = pair.key.range ?? [0, 1];
            this.syntax.push(this.error('duplicate-key', `the key "${name}" appears twice in one mapping`, start, end, 'remove one of them, or merge what they hold'));
          }
          seen.add(name);
        }
        return undefined;
      },
    });
  }

  /** The outermost node (or key) that matches, in document order. */
  private nodeAt(doc: Document, match: (n: Node, isKey: boolean) => boolean): Node | undefined {
    let found: Node | undefined;
    visit(doc, {
      Pair: (_k, pair) => {
        if (!found && isNodeLike(pair.key) && match(pair.key, true)) {
          found = pair.key;
          return visit.BREAK;
        }
        return undefined;
      },
      Node: (_k, node) => {
        if (!found && match(node, false)) {
          found = node;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return found;
  }

  /** Every alias needs an anchor before it (keys that are not plain names yaml reports: stringKeys). True when the document has aliases. */
  private checkAliases(doc: Document): boolean {
    // Anchors seen so far, in document order (the order yaml resolves aliases in).
    const anchors = new Set<string>();
    let aliases = false;
    visit(doc, {
      Node: (_k, node) => {
        if (!isAlias(node) && node.anchor) anchors.add(node.anchor);
      },
      Alias: (_k, alias) => {
        aliases = true;
        if (!anchors.has(alias.source)) {
          const [from, to] = alias.range ?? [0, 1];
          this.syntax.push(
            this.error('yaml-syntax', `the alias "*${alias.source}" refers to no anchor`, from, to, `an anchor "&${alias.source}" must come before its aliases`),
          );
        }
      },
    });
    return aliases;
  }

  position(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(Math.min(offset, this.text.length));
    return { line, col };
  }

  /** The data as plain JavaScript values (null when the file has problems listed in `syntax`). */
  toJS(): unknown {
    return this.data;
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
        pair = this.pairOf(node, String(seg));
        next = pair?.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      if (next === undefined && !pair) break;
      const last = i === path.length - 1;
      if (last && which === 'key' && pair && isNodeLike(pair.key)) return this.span(pair.key);
      const empty = isScalar(next) && next.value === null && !!next.range && next.range[0] === next.range[1];
      if (isNodeLike(next) && !(empty && pair)) {
        best = next;
      } else if (pair && isNodeLike(pair.key)) {
        // "key:" with an empty value: point at the key.
        best = pair.key;
        break;
      }
      node = next;
    }
    return (best ? this.span(best) : undefined) ?? { start: this.position(0), end: this.position(1) };
  }

  private readonly pairs = new WeakMap<YAMLMap, Map<string, Pair>>();

  /** The pair of `map` with this key (the first, as yaml keeps), through an index built once per map. */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let index = this.pairs.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        const k = isPair(p) ? keyText(p.key) : undefined;
        if (k !== undefined && !index.has(k)) index.set(k, p);
      }
      this.pairs.set(map, index);
    }
    return index.get(key);
  }

  private span(node: Node): Span | undefined {
    const range = node.range;
    if (!range) return undefined;
    let end = range[1];
    // Block collections' ranges run to the next sibling; keep carets on the first line.
    const nl = this.text.indexOf('\n', range[0]);
    if (nl >= 0 && nl < end) {
      end = nl;
      // ... and off the comment that ends that line.
      const comment = /\s+#.*$/.exec(this.text.slice(range[0], end));
      if (isCollection(node) && comment) end = range[0] + comment.index;
    }
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

/** The value at a path in plain data, or undefined where the path leads nowhere. */
export function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[String(seg)];
  }
  return v;
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
