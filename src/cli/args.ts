import { InferdError } from "../util/errors.js";

/** Parses a flag's value as a number within rules; errors name the flag in one line. */
export function numberFlag(
  name: string,
  value: string | undefined,
  rule: { integer?: boolean; min?: number; max?: number; minExclusive?: number },
): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  const parts: string[] = [];
  if (rule.integer) parts.push("an integer");
  else parts.push("a number");
  if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
  if (rule.minExclusive !== undefined) parts.push(`> ${rule.minExclusive}`);
  if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
  const ok =
    Number.isFinite(n) &&
    (!rule.integer || Number.isInteger(n)) &&
    (rule.min === undefined || n >= rule.min) &&
    (rule.minExclusive === undefined || n > rule.minExclusive) &&
    (rule.max === undefined || n <= rule.max);
  if (!ok) throw new InferdError("invalid_argument", `invalid --${name}: ${JSON.stringify(value)} (must be ${parts.join(" ")})`, { param: name });
  return n;
}

/** Wraps node's parseArgs errors (unknown flag, missing value) as one-line InferdErrors. */
export function parseError(e: unknown): InferdError {
  const msg = e instanceof Error ? e.message : String(e);
  return new InferdError("invalid_argument", msg.split("\n")[0]!.replace(/\. To specify a positional.*$/, ""));
}

/**
 * Joins `--flag -5` into `--flag=-5` for options that take a value: node's parseArgs would
 * otherwise reject the negative number as "ambiguous" instead of letting us name the bad value.
 */
export function joinNegativeValues(argv: string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (valued.has(a) && next !== undefined && /^-\d|^-\.\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
