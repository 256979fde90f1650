/** The p-th percentile (0..100) of `xs` by the nearest-rank rule, as the benchmarks compute it. */
export function percentileOf(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}
