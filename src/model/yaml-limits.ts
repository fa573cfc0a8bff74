// Limits on what a YAML file may make us build, so that a hostile or unlucky file costs time and
// memory in proportion to its size: nesting depth (checked on the parser's tokens, before the
// recursive composer sees them) and what aliases expand to (checked while turning the document
// into data, which is done here in one linear pass: yaml's own toJS resolves each alias by
// scanning every anchor before it, and counts aliases rather than what they expand to).
import { isAlias, isMap, isPair, isScalar, isSeq, type Alias, type CST, type Document, type Node } from 'yaml';

/** Deeper than any topology needs (6 levels: sandboxes/web/endpoints/0/ip/0), far below the stack's limit. */
export const MAX_DEPTH = 100;

/**
 * How many nodes aliases may add to the document, in all. A topology of 10,000 sandboxes written
 * out in full has about 200,000 nodes; an anchor used a few hundred times adds a few thousand.
 */
export const MAX_ALIAS_EXPANSION = 1_000_000;

/**
 * The offset of the first collection nested deeper than `max` levels, or undefined. Iterative,
 * in document order; the stack holds tokens and their depths side by side (no pair per token:
 * this runs over every token of every file).
 */
export function tooDeep(tokens: readonly CST.Token[], max = MAX_DEPTH): number | undefined {
  const stack: CST.Token[] = [];
  const depths: number[] = [];
  for (let i = tokens.length - 1; i >= 0; i--) {
    stack.push(tokens[i]!);
    depths.push(0);
  }
  while (stack.length) {
    const token = stack.pop()!;
    const depth = depths.pop()!;
    if (token.type === 'document') {
      if (token.value) {
        stack.push(token.value);
        depths.push(depth);
      }
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth + 1 > max) return token.offset;
    const items = token.items;
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      // Only collections nest: scalars need no visit.
      if (item.value && isCollectionToken(item.value)) {
        stack.push(item.value);
        depths.push(depth + 1);
      }
      if (item.key && isCollectionToken(item.key)) {
        stack.push(item.key);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}

const isCollectionToken = (t: CST.Token): boolean => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection';

export interface AliasProblem {
  alias: Alias;
  kind: 'cycle' | 'expansion' | 'depth';
}

interface Measured {
  value: unknown;
  /** Nodes, counting what aliases inside expand to. */
  size: number;
  /** Levels of nesting, likewise. */
  depth: number;
}

/**
 * The document as plain data, aliases resolved to the value of the last anchor before them (as
 * yaml does; the same object, not a copy), or the first alias that makes a cycle, adds more than
 * `maxExpansion` nodes in all, or nests deeper than `maxDepth`. Recursion follows the source's
 * nesting only, which tooDeep() bounded.
 */
export function toData(
  doc: Document,
  { maxExpansion = MAX_ALIAS_EXPANSION, maxDepth = MAX_DEPTH, hasAliases = true }: { maxExpansion?: number; maxDepth?: number; hasAliases?: boolean } = {},
): { data: unknown } | { problem: AliasProblem } {
  // Without aliases nothing expands: the data is the source's nodes, converted as they are.
  if (!hasAliases) return { data: plain(doc.contents) };
  const anchors = new Map<string, Node>();
  const done = new Map<Node, Measured>();
  const open = new Set<Node>();
  let added = 0;
  let problem: AliasProblem | undefined;

  const measure = (node: unknown, level: number): Measured => {
    if (problem || node === null || node === undefined) return { value: null, size: 1, depth: 0 };
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      const m = target ? done.get(target) : undefined;
      if (!m) {
        // An alias to an anchor that contains it; an alias without an anchor is reported before this runs.
        if (target && open.has(target)) problem = { alias: node, kind: 'cycle' };
        return { value: null, size: 1, depth: 0 };
      }
      added += m.size - 1;
      if (added > maxExpansion) problem = { alias: node, kind: 'expansion' };
      else if (level + m.depth > maxDepth) problem = { alias: node, kind: 'depth' };
      return m;
    }
    const n = node as Node;
    if (n.anchor) anchors.set(n.anchor, n);
    open.add(n);
    const m = isScalar(n) ? { value: n.value, size: 1, depth: 0 } : collection(n, level);
    open.delete(n);
    if (n.anchor) done.set(n, m);
    return m;
  };

  const collection = (n: Node, level: number): Measured => {
    let size = 1;
    let depth = 0;
    const add = (m: Measured) => {
      size += m.size;
      depth = Math.max(depth, m.depth);
      return m.value;
    };
    if (isSeq(n)) {
      const value = n.items.map((item) => add(measure(item, level + 1)));
      return { value, size, depth: depth + 1 };
    }
    const value: Record<string, unknown> = {};
    if (isMap(n)) {
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const key = add(measure(pair.key, level + 1));
        setKey(value, key === null || key === undefined ? '' : String(key), add(measure(pair.value, level + 1)));
      }
    }
    return { value, size, depth: depth + 1 };
  };

  const root = measure(doc.contents, 0);
  return problem ? { problem } : { data: root.value };
}

/** A document without aliases as plain data (its depth tooDeep() bounded). */
function plain(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) return node.value;
  if (isSeq(node)) return node.items.map(plain);
  const value: Record<string, unknown> = {};
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = plain(pair.key);
      setKey(value, key === null || key === undefined ? '' : String(key), plain(pair.value));
    }
  }
  return value;
}

/** A plain property, even for "__proto__" (which plain assignment would take as the prototype). */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}
