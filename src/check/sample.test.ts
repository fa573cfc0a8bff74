// --all-pairs sampling: every pair up to the budget; past it, a repeatable sample in which every
// endpoint sends and is probed, without repeats or self pairs.
import { describe, expect, it } from 'vitest';
import { hashSeed, samplePairs, seededRandom } from './sample.js';

const key = ([a, b]: [number, number]) => `${a}>${b}`;

describe('samplePairs', () => {
  it('within the budget: every ordered pair, in order, none sampled', () => {
    const s = samplePairs(4, 12, 1);
    expect(s).toMatchObject({ total: 12, sampled: false });
    expect(s.pairs.map(key)).toEqual(['0>1', '0>2', '0>3', '1>0', '1>2', '1>3', '2>0', '2>1', '2>3', '3>0', '3>1', '3>2']);
  });

  it('1000 endpoints, budget 1000: 1000 of 999000 pairs, a ring through every endpoint (each sends once and is probed once)', () => {
    const s = samplePairs(1000, 1000, 7);
    expect(s).toMatchObject({ total: 999000, sampled: true });
    expect(s.pairs).toHaveLength(1000);
    const from = new Set(s.pairs.map(([a]) => a));
    const to = new Set(s.pairs.map(([, b]) => b));
    expect(from.size).toBe(1000);
    expect(to.size).toBe(1000);
  });

  it('a budget larger than n: the ring, then distinct random pairs; never a self pair or a repeat', () => {
    const s = samplePairs(50, 700, 3);
    expect(s.pairs).toHaveLength(700);
    expect(new Set(s.pairs.map(key)).size).toBe(700);
    expect(s.pairs.filter(([a, b]) => a === b)).toEqual([]);
    expect(new Set(s.pairs.map(([a]) => a)).size).toBe(50);
    expect(new Set(s.pairs.map(([, b]) => b)).size).toBe(50);
    // One short of every pair still ends, with every pair but one.
    expect(new Set(samplePairs(30, 869, 3).pairs.map(key)).size).toBe(869);
  });

  it('a budget smaller than n: that many pairs of the ring, each endpoint at most once as sender', () => {
    const s = samplePairs(100, 10, 1);
    expect(s.pairs).toHaveLength(10);
    expect(new Set(s.pairs.map(([a]) => a)).size).toBe(10);
  });

  it('repeatable: the same seed gives the same pairs, another seed others', () => {
    expect(samplePairs(200, 300, 42).pairs).toEqual(samplePairs(200, 300, 42).pairs);
    expect(samplePairs(200, 300, 43).pairs).not.toEqual(samplePairs(200, 300, 42).pairs);
  });
});

describe('seededRandom and hashSeed', () => {
  it('numbers in [0, 1), spread out, the same for the same seed', () => {
    const r = seededRandom(1);
    const xs = Array.from({ length: 10000 }, () => r());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.47);
    expect(mean).toBeLessThan(0.53);
    const again = seededRandom(1);
    expect(Array.from({ length: 5 }, () => again())).toEqual(xs.slice(0, 5));
  });

  it('a seed per network and family differs by network', () => {
    expect(hashSeed('1:web:4')).not.toBe(hashSeed('1:db:4'));
    expect(hashSeed('1:web:4')).toBe(hashSeed('1:web:4'));
  });
});
