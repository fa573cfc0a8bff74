// Prefixed output of several sandboxes: whole lines, aligned names, UTF-8 kept whole.
import { describe, expect, it } from 'vitest';
import { LinePrefixer, linePrefixes } from './prefix.js';

const collect = () => {
  const out: string[] = [];
  return { out, write: (s: string) => out.push(s) };
};

describe('LinePrefixer', () => {
  it('writes only whole lines, each after the prefix, however the chunks are cut', () => {
    const { out, write } = collect();
    const p = new LinePrefixer('a | ', write);
    p.push('one\ntw');
    p.push('o\n\nthr');
    expect(out.join('')).toBe('a | one\na | two\na | \n');
    p.end();
    expect(out.join('')).toBe('a | one\na | two\na | \na | thr\n');
  });

  it('a multi-byte character cut between two chunks comes out whole', () => {
    const { out, write } = collect();
    const p = new LinePrefixer('> ', write);
    const bytes = Buffer.from('é€\n');
    p.push(bytes.subarray(0, 1));
    p.push(bytes.subarray(1, 3));
    p.push(bytes.subarray(3));
    p.end();
    expect(out.join('')).toBe('> é€\n');
  });

  it('nothing at all writes nothing; a stream ending with a newline adds no empty line', () => {
    const { out, write } = collect();
    const p = new LinePrefixer('> ', write);
    p.end();
    expect(out).toEqual([]);
    p.push('x\n');
    p.end();
    expect(out.join('')).toBe('> x\n');
  });
});

describe('linePrefixes', () => {
  it('pads names to the longest, then " | "', () => {
    expect([...linePrefixes(['a', 'router', 'bb'], false).values()]).toEqual(['a      | ', 'router | ', 'bb     | ']);
  });

  it('colours only the name, and only when asked', () => {
    const p = linePrefixes(['a', 'bb'], true);
    expect(p.get('a')).toBe('\u001b[36ma \u001b[0m | ');
    expect(p.get('bb')).toBe('\u001b[33mbb\u001b[0m | ');
  });
});
