// TSNET_TIMING=1: how long each phase took, on stderr (the benchmark's explanations use it).
const enabled = process.env.TSNET_TIMING === '1';
let last = performance.now();

export function phase(name: string): void {
  if (!enabled) return;
  const now = performance.now();
  process.stderr.write(`tsnet-timing ${name} ${(now - last).toFixed(1)}ms (at ${now.toFixed(0)}ms)\n`);
  last = now;
}
