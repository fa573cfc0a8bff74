import { describe, expect, it } from 'vitest';
import { SourceFile, pathToPointer, pointerToPath } from './source.js';

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

  it('refuses an alias bomb instead of expanding or throwing', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]'].join('\n');
    const src = new SourceFile('x.yaml', bomb);
    expect(src.syntax.map((d) => d.code)).toEqual(['yaml-syntax']);
    expect(src.toJS()).toBeNull();
  });

  it('allows a few aliases', () => {
    const src = new SourceFile('x.yaml', 'a: &a {x: 1}\nb: *a\n');
    expect(src.syntax).toEqual([]);
    expect(src.toJS()).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it('refuses keys that are collections', () => {
    expect(problems('? [a, b]\n: 1\n')).toMatchObject([{ code: 'bad-type', line: 1, col: 3 }]);
    expect(problems('{x: 1}: 2\n')).toMatchObject([{ code: 'bad-type', line: 1, col: 1 }]);
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
