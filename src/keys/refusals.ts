/**
 * The errors and warnings the limiters give, in one place so that the in-process and the
 * Redis limiter word them identically. Messages name the key, the limit and what to do (when
 * the budget resets, how long to wait); they are plain ASCII so a warning fits in a header.
 */
import { InferdError } from "../util/errors.js";
import type { ApiKey } from "./api-key.js";
import { fromNano } from "./limits.js";
import { perPeriod } from "./periods.js";

/** "$1.00", "$0.10", "$0.000042": cents at least, more digits only when they matter. */
export function formatUsd(usd: number): string {
  const s = usd.toFixed(6).replace(/0+$/, "");
  const [whole, frac = ""] = s.split(".");
  return `$${whole}.${frac.padEnd(2, "0")}`;
}

/** Budget figures at the moment of a decision, in nano-USD. */
export interface BudgetFigures {
  spentNano: number;
  reservedNano: number;
  estimateNano: number;
  /** When the period ends (epoch ms). */
  periodEnd: number;
}

function budgetText(key: ApiKey, f: BudgetFigures): string {
  const inFlight = f.reservedNano > 0 ? ` and ${formatUsd(fromNano(f.reservedNano))} reserved by requests in flight` : "";
  return (
    `budget of key "${key.name}" is ${formatUsd(key.budgetUsd ?? 0)} ${perPeriod(key.period)}: ` +
    `${formatUsd(fromNano(f.spentNano))} spent${inFlight}, and this request may cost up to ${formatUsd(fromNano(f.estimateNano))}; ` +
    `it resets at ${new Date(f.periodEnd).toISOString()}`
  );
}

/** A hard budget would be passed: 429 with OpenAI's `insufficient_quota`. No Retry-After: retrying soon cannot help. */
export function budgetExceeded(key: ApiKey, f: BudgetFigures): InferdError {
  return new InferdError("quota_exceeded", `insufficient quota: ${budgetText(key, f)}`, { code: "insufficient_quota" });
}

/** A soft budget was passed: the request runs, and this goes into the `x-inferd-budget-warning` header. */
export function budgetWarning(key: ApiKey, f: BudgetFigures): string {
  return `soft ${budgetText(key, f)}`;
}

/** Which rate limit refused a request. */
export type RateLimit = "requests" | "tokens";

/** Rate figures at the moment of a refusal. */
export interface RateFigures {
  which: RateLimit;
  /** Requests or tokens already in the last minute's window. */
  used: number;
  /** 1 for requests; the request's estimated tokens for tokens. */
  requested: number;
  /** How long until enough of the window frees up. */
  retryAfterMs: number;
}

/** RPM or TPM used up: 429 with Retry-After, worded and typed like OpenAI's (`type` "requests" or "tokens"). */
export function rateLimited(key: ApiKey, f: RateFigures): InferdError {
  const limit = f.which === "requests" ? `requests per minute (RPM): limit ${key.rpm}` : `tokens per minute (TPM): limit ${key.tpm}`;
  const retryAfterSeconds = Math.max(1, Math.ceil(f.retryAfterMs / 1000));
  return new InferdError(
    "rate_limited",
    `rate limit of key "${key.name}" reached on ${limit}, used ${f.used}, requested ${f.requested}; try again in ${retryAfterSeconds}s`,
    { retryAfterSeconds, type: f.which, code: "rate_limit_exceeded" },
  );
}

/**
 * A request whose estimate alone is more than the key's TPM could never be admitted: a 400
 * naming max_tokens (the part the caller controls), not a 429 that would invite retries.
 */
export function tooLargeForTpm(key: ApiKey, tokens: number): InferdError {
  return new InferdError(
    "invalid_argument",
    `request too large for key "${key.name}": its prompt and max_tokens come to ${tokens} tokens, more than its limit of ${key.tpm} tokens per minute; lower max_tokens`,
    { param: "max_tokens" },
  );
}
