// Which ordered pairs --all-pairs tries on a network of n endpoints: all n(n-1) of them up to a
// budget; beyond it, a sample that is the same on every run (a seeded generator, no clock):
// first a ring through every endpoint in a shuffled order (each one sends once and is probed
// once, so no endpoint goes unchecked), then pairs drawn at random until the budget is spent.

/** mulberry32: a small, well-mixed 32-bit generator; [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a text: a seed per network and family from the run's seed. */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface PairSample {
  /** Ordered pairs of endpoint indexes [from, to]. */
  pairs: [number, number][];
  /** n(n-1): every ordered pair. */
  total: number;
  sampled: boolean;
}

/** Every ordered pair, or a repeatable sample of `budget` of them (see the top of the file). */
export function samplePairs(n: number, budget: number, seed: number): PairSample {
  const total = n * (n - 1);
  if (total <= budget) {
    const pairs: [number, number][] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) pairs.push([i, j]);
    return { pairs, total, sampled: false };
  }
  const random = seededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pairs: [number, number][] = [];
  const seen = new Set<number>();
  const add = (i: number, j: number) => {
    const key = i * n + j;
    if (i === j || seen.has(key)) return;
    seen.add(key);
    pairs.push([i, j]);
  };
  for (let k = 0; k < n && pairs.length < budget; k++) add(order[k]!, order[(k + 1) % n]!);
  while (pairs.length < budget) add(Math.floor(random() * n), Math.floor(random() * n));
  return { pairs, total, sampled: true };
}
