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
