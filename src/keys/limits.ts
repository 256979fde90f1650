/**
 * What a virtual key may do right now: its budget and its rate limits, behind one interface
 * with two implementations, in-process (memory-limits.ts, one replica) and Redis
 * (redis-limits.ts, any number of replicas sharing one count).
 *
 * A request is admitted before it starts, at its worst case (the caller prices it at its
 * max_tokens), and settled when it ends, with what it really used:
 *
 * - Budget: each admission reserves its estimated cost. It is refused when the period's spend
 *   plus every reservation in flight plus this estimate would pass the budget, so racing
 *   requests can never overspend it together. Settling releases the reservation and adds the
 *   real cost. A reservation not settled within `reservationTtlMs` (its replica died) lapses.
 * - Rate: a sliding-window log of the last minute's admissions (time, tokens). A request is
 *   refused when the window already holds `rpm` requests, or its tokens would pass `tpm`;
 *   Retry-After is when enough of the oldest entries leave the window. TPM counts a request's
 *   estimate (prompt + max_tokens) at admission, and settling replaces it with the real count.
 *
 * Both checks and both additions are one atomic step: in-process, one synchronous turn of the
 * event loop; on Redis, one Lua script. Amounts are kept in integer nano-USD, so adding up
 * ten $0.10 requests makes exactly $1.00 (float sums drift and would let an 11th in or keep
 * the 10th out).
 */
import { InferdError } from "../util/errors.js";
import type { ApiKey } from "./api-key.js";
import type { Period } from "./periods.js";

/** The rate limits' window. */
export const WINDOW_MS = 60_000;

/** A reservation lapses after this long without a settle (longer than any request may run). */
export const DEFAULT_RESERVATION_TTL_MS = 60 * 60_000;

/** The response header that carries a soft budget's warning. */
export const BUDGET_WARNING_HEADER = "x-inferd-budget-warning";

/** A request's worst case: prompt tokens + max_tokens, and their price at max_tokens. */
export interface Estimate {
  tokens: number;
  costUsd: number;
}

/** What a request really used. costUsd null: unknown; the estimate is charged (see settle). */
export interface Actual {
  tokens: number;
  costUsd: number | null;
}

/** A request allowed to start; hand it back to `settle` when the request ends, however it ends. */
export interface Admission {
  /** Unique per admission: names its reservation and its entry in the rate window. */
  id: string;
  keyId: string;
  keyName: string;
  period: Period;
  /** Start (epoch ms) of the budget period charged: the one the request was admitted in. */
  periodStart: number;
  /** When it was admitted (epoch ms, on the limiter's clock). */
  admittedAt: number;
  reservedUsd: number;
  reservedTokens: number;
  /** A soft budget passed: the text for the `x-inferd-budget-warning` header. */
  warning?: string;
}

/** A key's budget and rate use now. */
export interface KeyUsage {
  spentUsd: number;
  reservedUsd: number;
  budgetUsd: number | null;
  periodStarts: string;
  /** When the budget resets (ISO, UTC). */
  periodEnds: string;
  rpmUsed: number;
  tpmUsed: number;
}

/** A key's budget and rate limits. Every method may throw InferdError "unavailable" (its store is down). */
export interface Limits {
  /**
   * Admits a request or throws: "quota_exceeded" (429, insufficient_quota) when a hard budget
   * would be passed, "rate_limited" (429 with retryAfterSeconds) when RPM or TPM is used up,
   * "invalid_argument" when the request alone is more than the key's TPM (it could never run).
   * `now` (epoch ms) is for tests; by default the limiter's own clock.
   */
  admit(key: ApiKey, estimate: Estimate, now?: number): Promise<Admission>;
  /**
   * The request ended (finished, failed or aborted): its real tokens and cost replace the
   * reservation. Unknown cost (null) charges the estimate: a request whose price could not be
   * learnt still ran, and the estimate is its upper bound. Settling an Admission twice is a no-op.
   */
  settle(admission: Admission, actual: Actual): Promise<void>;
  /** Spend, reservations and rate use now, for `inferd keys list` and dashboards. */
  state(key: ApiKey, now?: number): Promise<KeyUsage>;
  close(): Promise<void>;
}

/** Where the in-process limiter keeps each key's spend per period, so it outlives a restart. */
export interface SpendLedger {
  spentNano(keyId: string, periodStart: number): number;
  addSpent(keyId: string, periodStart: number, nano: number): void;
}

/** USD to integer nano-USD. */
export function toNano(usd: number): number {
  return Math.round(usd * 1e9);
}

/** Integer nano-USD to USD. */
export function fromNano(nano: number): number {
  return nano / 1e9;
}

/** Throws (internal: a caller's bug) unless tokens are a whole number >= 0 and the cost a finite number >= 0. */
export function checkAmounts(what: string, tokens: number, costUsd: number | null): void {
  if (!Number.isInteger(tokens) || tokens < 0) throw new InferdError("internal", `${what}: tokens must be an integer >= 0, not ${tokens}`);
  if (costUsd !== null && !(Number.isFinite(costUsd) && costUsd >= 0)) throw new InferdError("internal", `${what}: costUsd must be a finite number >= 0, not ${costUsd}`);
}
