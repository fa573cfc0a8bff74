import { describe, expect, it } from 'vitest';
import { SourceFile, pathToPointer, pointerToPath } from './source.js';
import { parseDocument } from 'yaml';
import { MAX_ALIAS_EXPANSION, MAX_DEPTH, toData } from './yaml-limits.js';

const TEXT = `version: 1
name: lab
networks:
  web:
    driver: bridge
    subnet: 198.18.0.0/24
  empty:
sandboxes:
  a:
    endpoints:
      - network: web # the first
        ip: 198.18.0.5
`;

describe('SourceFile', () => {
  const src = new SourceFile('lab.yaml', TEXT);

  it('parses the document and keeps the data', () => {
    expect(src.syntax).toEqual([]);
    expect(src.toJS()).toMatchObject({ version: 1, name: 'lab', networks: { web: { driver: 'bridge' }, empty: null } });
  });

  it('locates values by path, with line and column', () => {
    expect(src.locate(['networks', 'web', 'subnet'])).toEqual({ start: { line: 6, col: 13 }, end: { line: 6, col: 26 } });
    expect(src.locate(['sandboxes', 'a', 'endpoints', 0, 'ip'])?.start).toEqual({ line: 12, col: 13 });
  });

  it('locates keys when asked', () => {
    expect(src.locate(['networks', 'web', 'subnet'], 'key')).toEqual({ start: { line: 6, col: 5 }, end: { line: 6, col: 11 } });
    expect(src.locate(['networks', 'web'], 'key')?.start).toEqual({ line: 4, col: 3 });
  });

  it('points at the key of an empty value', () => {
    expect(src.locate(['networks', 'empty'])?.start).toEqual({ line: 7, col: 3 });
  });

  it('falls back to the nearest existing ancestor', () => {
    expect(src.locate(['networks', 'web', 'mtu'])?.start).toEqual({ line: 5, col: 5 });
    expect(src.locate(['sandboxes', 'a', 'endpoints', 7])?.start.line).toBe(11);
    expect(src.locate(['nothing', 'here'])?.start).toEqual({ line: 1, col: 1 });
  });

  it('keeps carets of block collections on their first line and off its comment', () => {
    const span = src.locate(['sandboxes', 'a', 'endpoints', 0])!;
    expect(span.start).toEqual({ line: 11, col: 9 });
    expect(span.end).toEqual({ line: 11, col: 21 });
  });

  it('places an empty file at line 1, column 1', () => {
    expect(new SourceFile('e.yaml', '').locate([])).toEqual({ start: { line: 1, col: 1 }, end: { line: 1, col: 1 } });
    expect(new SourceFile('e.yaml', '').toJS()).toBeNull();
  });
});

describe('SourceFile problems', () => {
  const problems = (text: string) => new SourceFile('x.yaml', text).syntax.map((d) => ({ code: d.code, line: d.start?.line, col: d.start?.col, message: d.message }));

  it('reports a duplicate key at the second one, by name', () => {
    expect(problems('a: 1\nb: 2\na: 3\n')).toEqual([{ code: 'duplicate-key', line: 3, col: 1, message: 'the key "a" appears twice in one mapping' }]);
  });

  it('reports a second document where it starts', () => {
    expect(problems('a: 1\n---\nb: 2\n')).toMatchObject([{ code: 'multiple-documents', line: 2, col: 1 }]);
  });

  it('points an unclosed quote or bracket at where it opens, not at the end of the file', () => {
    expect(problems('a: 1\nb: "open\nc: 2\n')).toMatchObject([{ code: 'yaml-syntax', line: 2, col: 4 }]);
    expect(problems("a: 1\nb: 'open\n")).toMatchObject([{ code: 'yaml-syntax', line: 2, col: 4 }]);
    expect(problems('a: [1, 2\nb: 2\n')).toMatchObject([{ code: 'yaml-syntax', line: 1, col: 4 }]);
    expect(problems('a: {x: {y: 1}\n')).toMatchObject([{ code: 'yaml-syntax', line: 1, col: 4 }]);
  });

  it('reports an alias without an anchor instead of throwing', () => {
    expect(problems('a: *nowhere\n')).toMatchObject([{ code: 'yaml-syntax', line: 1, col: 4, message: 'the alias "*nowhere" refers to no anchor' }]);
    // An anchor must come before its aliases.
    expect(problems('a: *later\nb: &later 1\n')).toMatchObject([{ code: 'yaml-syntax', line: 1, col: 4 }]);
  });

  it('refuses an alias bomb at the alias where the expansion passes the limit, quickly', () => {
    // "Billion laughs": nine levels of ten aliases each would expand to 10^9 nodes.
    const levels = Array.from({ length: 9 }, (_, i) => {
      const name = String.fromCharCode(97 + i);
      const items = i === 0 ? 'x' : `*${String.fromCharCode(96 + i)}`;
      return `${name}: &${name} [${Array(10).fill(items).join(', ')}]`;
    });
    const src = new SourceFile('x.yaml', levels.join('\n'));
    // Levels a..e add 123,400 nodes; each *e adds 111,110 more: the 8th on line 6 passes 1,000,000.
    expect(problems(levels.join('\n'))).toEqual([
      {
        code: 'yaml-aliases',
        line: 6,
        col: 8 + 4 * 7,
        message: `the aliases up to "*e" expand to more than ${MAX_ALIAS_EXPANSION.toLocaleString('en-US')} nodes: the file would be enormous`,
      },
    ]);
    expect(src.toJS()).toBeNull();
  });

  it('measures what aliases expand to, not how many there are: a small anchor used 300 times is fine', () => {
    const text = ['ep: &ep [{network: n}]', ...Array.from({ length: 300 }, (_, i) => `s${i}: {endpoints: *ep}`)].join('\n');
    const src = new SourceFile('x.yaml', text);
    expect(src.syntax).toEqual([]);
    const data = src.toJS() as Record<string, { endpoints: unknown }>;
    expect(data.s299!.endpoints).toEqual([{ network: 'n' }]);
    // Like yaml's own toJS: an alias is the anchor's value, not a copy.
    expect(data.s299!.endpoints).toBe(data.ep);
  });

  it('refuses an alias inside its own anchor (a cycle)', () => {
    expect(problems('a: &a {b: *a}\n')).toMatchObject([{ code: 'yaml-aliases', line: 1, col: 11, message: 'the alias "*a" is inside its own anchor: expanding it never ends' }]);
    expect(problems('a: &a [1, [2, *a]]\n')).toMatchObject([{ code: 'yaml-aliases', line: 1, col: 15 }]);
  });

  it('refuses aliases that nest the data deeper than the limit, though each anchor is shallow', () => {
    const deep = (n: number) => `${'['.repeat(n)}x${']'.repeat(n)}`;
    const ok = `a: &a ${deep(40)}\nb: &b [${deep(40).replace('x', '*a')}]\n`;
    expect(problems(ok)).toEqual([]);
    const text = `${ok}c: [${deep(40).replace('x', '*b')}]\n`;
    expect(problems(text)).toMatchObject([{ code: 'yaml-aliases', line: 3, col: 45, message: `the alias "*b" nests the data deeper than ${MAX_DEPTH} levels` }]);
  });

  it('refuses 100,000 nested "[" at the first level past the limit, quickly and without a stack overflow', () => {
    const cases: [string, number][] = [
      [`a: ${'['.repeat(100_000)}\n`, 3 + MAX_DEPTH], // the root mapping is the first level
      [`a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 3 + MAX_DEPTH],
      [`${'- '.repeat(50_000)}x\n`, 2 * MAX_DEPTH + 1],
    ];
    for (const [text, col] of cases) {
      const found = problems(text);
      expect(found).toEqual([{ code: 'yaml-syntax', line: 1, col, message: `the YAML nests deeper than ${MAX_DEPTH} levels here; a topology needs 6` }]);
    }
    expect(problems(`a: ${'['.repeat(MAX_DEPTH - 1)}${']'.repeat(MAX_DEPTH - 1)}\n`)).toEqual([]);
  }, 60_000);

  it('finds nesting in keys too, the first in document order', () => {
    const deepKey = `? ${'['.repeat(MAX_DEPTH + 5)}\n: v\nb: ${'['.repeat(MAX_DEPTH + 5)}\n`;
    expect(problems(deepKey)).toMatchObject([{ code: 'yaml-syntax', line: 1, col: 1 + MAX_DEPTH, message: `the YAML nests deeper than ${MAX_DEPTH} levels here; a topology needs 6` }]);
  });

  it('converts a file without aliases to the same data as the alias-aware conversion', () => {
    const text = 'name: t\n__proto__: {x: 1}\nsandboxes:\n  a: {endpoints: [{network: n, ip: [198.18.0.2/24]}], sysctls: {"net.ipv4.ip_forward": 1}}\nempty:\nlist: [1, "2", true, null]\n';
    const doc = parseDocument(text);
    const plainData = toData(doc, { hasAliases: false });
    expect(plainData).toEqual(toData(doc, { hasAliases: true }));
    expect(Object.keys((plainData as { data: object }).data)).toEqual(['name', '__proto__', 'sandboxes', 'empty', 'list']);
  });

  it('keeps keys as written: "010" is not the number 10, "true" not a boolean', () => {
    const src = new SourceFile('x.yaml', '010: a\n10: b\n0x1F: c\ntrue: d\n1e3: e\n~: f\n');
    expect(src.syntax).toEqual([]);
    expect(Object.keys(src.toJS() as object)).toEqual(['10', '010', '0x1F', 'true', '1e3', '~']);
    expect(src.locate(['010'])?.start).toEqual({ line: 1, col: 6 });
    expect(problems('010: a\n"010": b\n')).toMatchObject([{ code: 'duplicate-key', line: 2 }]);
  });

  it('keeps a "__proto__" key as a plain key', () => {
    const data = new SourceFile('x.yaml', '__proto__: {polluted: 1}\n').toJS() as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
  });

  it('refuses keys that are collections', () => {
    expect(problems('? [a, b]\n: 1\n')).toMatchObject([{ code: 'bad-type', line: 1, col: 3 }]);
    expect(problems('{x: 1}: 2\n')).toMatchObject([{ code: 'bad-type', line: 1, col: 1, message: 'a key must be a plain name, not a mapping' }]);
    expect(problems('a: &a x\n*a : 2\n')).toMatchObject([{ code: 'bad-type', line: 2, col: 1, message: 'a key must be a plain name, not an alias' }]);
  });

  it('gives every problem a position', () => {
    for (const text of ['a: "x\n', '\tb: 1\n', 'a: 1\na: 2\n', 'a:\n  - b\n c: 1\n'])
      for (const d of new SourceFile('x.yaml', text).syntax) expect(d.start, `${text}: ${d.message}`).toBeDefined();
  });
});

describe('JSON pointers', () => {
  it('round-trip paths, escaping "/" and "~"', () => {
    const path = ['sandboxes', 'a/b~c', 'endpoints', 0, 'ip'];
    expect(pathToPointer(path)).toBe('/sandboxes/a~1b~0c/endpoints/0/ip');
    expect(pointerToPath(pathToPointer(path))).toEqual(path);
    expect(pointerToPath('')).toEqual([]);
    expect(pathToPointer([])).toBe('');
  });
});
