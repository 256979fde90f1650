/** Small statistics for tests that compare sampled distributions. */

/** ln Γ(x) (Lanczos). */
function lnGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const v of c) ser += v / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Regularized upper incomplete gamma Q(a, x) (series for x < a + 1, continued fraction otherwise). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    for (let n = 1; n < 500; n++) {
      del *= x / (a + n);
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-12) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - lnGamma(a));
  }
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return Math.exp(-x + a * Math.log(x) - lnGamma(a)) * h;
}

/**
 * Two-sample chi-square test of homogeneity: the p-value of "both samples come from the same
 * distribution". Categories with fewer than `minCount` observations in total are pooled.
 */
export function chiSquareTwoSample(a: readonly (string | number)[], b: readonly (string | number)[], minCount = 10): { stat: number; df: number; p: number } {
  const count = (xs: readonly (string | number)[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string | number, number>());
  const ca = count(a);
  const cb = count(b);
  const cells: [number, number][] = [];
  let rest: [number, number] = [0, 0];
  for (const k of new Set([...ca.keys(), ...cb.keys()])) {
    const cell: [number, number] = [ca.get(k) ?? 0, cb.get(k) ?? 0];
    if (cell[0] + cell[1] >= minCount) cells.push(cell);
    else rest = [rest[0] + cell[0], rest[1] + cell[1]];
  }
  if (rest[0] + rest[1] > 0) cells.push(rest);
  const na = a.length;
  const nb = b.length;
  let stat = 0;
  for (const [x, y] of cells) {
    const ea = ((x + y) * na) / (na + nb);
    const eb = ((x + y) * nb) / (na + nb);
    stat += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb;
  }
  const df = Math.max(1, cells.length - 1);
  return { stat, df, p: gammaQ(df / 2, stat / 2) };
}
