/**
 * Exact arithmetic for prices. Every figure (a rate, a token count, a compute time, a cached
 * share) is taken as the decimal it is written as and computed with as an exact fraction of
 * bigints, so a bill is the table's numbers multiplied out, never a float approximation of them:
 * summing a million requests of $0.000001 gives exactly $1. A `Money` amount is a whole number
 * of atto-dollars (1e-18 USD), so sums of amounts are exact integer additions; a fraction that
 * has no finite decimal (a compute cost divided by 3,600,000 ms an hour) is rounded there, nine
 * orders of magnitude below a cent's thousandth.
 */

/** An exact fraction n/d, d > 0, in lowest terms. */
export interface Q {
  readonly n: bigint;
  readonly d: bigint;
}

/** An amount of money in atto-dollars (1e-18 USD): sums of these are exact. */
export type Money = bigint;

const ATTO_PER_USD = 10n ** 18n;

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function make(n: bigint, d: bigint): Q {
  if (d === 0n) throw new RangeError("division by zero");
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return g > 1n ? { n: n / g, d: d / g } : { n, d };
}

/**
 * The exact value of a number as JavaScript writes it (its shortest round-trip decimal: 0.1 is
 * 1/10, not the binary double nearest it), which is the value a person typed in a file or flag.
 */
export function q(x: number | bigint): Q {
  if (typeof x === "bigint") return { n: x, d: 1n };
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  if (m === null) throw new RangeError(`cannot read ${x} as a decimal`);
  const digits = BigInt(`${m[1]}${m[2]}${m[3] ?? ""}`);
  const exp = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  return exp >= 0 ? make(digits * 10n ** BigInt(exp), 1n) : make(digits, 10n ** BigInt(-exp));
}

export const add = (a: Q, b: Q): Q => make(a.n * b.d + b.n * a.d, a.d * b.d);
export const sub = (a: Q, b: Q): Q => make(a.n * b.d - b.n * a.d, a.d * b.d);
export const mul = (a: Q, b: Q): Q => make(a.n * b.n, a.d * b.d);
export const div = (a: Q, b: Q): Q => make(a.n * b.d, a.d * b.n);

/** -1, 0 or 1 as a is less than, equal to or greater than b. */
export function cmp(a: Q, b: Q): -1 | 0 | 1 {
  const l = a.n * b.d;
  const r = b.n * a.d;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** The smallest integer >= x (how many whole machines a load needs). */
export function ceil(x: Q): bigint {
  const t = x.n / x.d; // truncates toward zero
  return t * x.d < x.n ? t + 1n : t;
}

/** A fraction as the nearest double (for ratios shown to people, never for money sums). */
export function qToNumber(x: Q): number {
  return Number(decimalString(roundTo(x, 18n), 18)) || 0;
}

/** x rounded to an integer count of 10^-places, half to even (banker's: no drift either way). */
function roundTo(x: Q, places: bigint): bigint {
  const scaled = x.n * 10n ** places;
  let t = scaled / x.d;
  let r = scaled - t * x.d; // same sign as scaled
  if (r < 0n) {
    t -= 1n;
    r += x.d;
  }
  const twice = 2n * r;
  if (twice > x.d || (twice === x.d && t % 2n !== 0n)) t += 1n;
  return t;
}

/** A USD amount (an exact fraction of dollars) as atto-dollars. */
export function money(usd: Q): Money {
  return roundTo(usd, 18n);
}

/** Atto-dollars as a plain decimal string of dollars, without trailing zeros: "0.0025", "975", "-1.5". */
export function usdString(m: Money): string {
  return decimalString(m, 18);
}

/** Atto-dollars as the double nearest their exact value: `usd(money(q(0.0025))) === 0.0025`. */
export function usd(m: Money): number {
  // parsing the exact decimal is correctly rounded, where m / 1e18 in floats would round twice
  return Number(usdString(m));
}

/** A decimal string of dollars ("0.0025") back to atto-dollars: exact for up to 18 places. */
export function parseUsd(s: string): Money {
  const m = /^(-?)(\d+)(?:\.(\d{1,18}))?$/.exec(s);
  if (m === null) throw new RangeError(`not a decimal amount of dollars: ${JSON.stringify(s)}`);
  const frac = (m[3] ?? "").padEnd(18, "0");
  const v = BigInt(m[2]!) * ATTO_PER_USD + BigInt(frac);
  return m[1] === "-" ? -v : v;
}

function decimalString(units: bigint, places: number): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const frac = digits.slice(digits.length - places).replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac.length > 0 ? `.${frac}` : ""}`;
}
