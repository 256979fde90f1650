/**
 * When to try an upstream call again, and after how long: exponential backoff with full jitter
 * (a random wait in [0, min(cap, base * 2^attempt)], so a crowd of gateways retrying the same
 * failed upstream spreads out instead of arriving together), stretched to the upstream's
 * Retry-After when that is longer. A Retry-After beyond `maxRetryAfterMs` is not waited for:
 * the call fails at once so the gateway can fall back to another upstream.
 */
import type { InferdError } from "../../util/errors.js";
import { UpstreamStatusError } from "./upstream-errors.js";

/** Retry settings of one upstream. */
export interface RetryOptions {
  /** Retries after the first attempt (default 2: three attempts in all). */
  max?: number;
  /** Backoff of the first retry's jitter window, in ms (default 100). */
  baseMs?: number;
  /** Largest backoff window, in ms (default 2000). */
  capMs?: number;
  /** Longest Retry-After honoured, in ms (default 10000); a longer one fails the call at once. */
  maxRetryAfterMs?: number;
}

/** The defaults of RetryOptions. */
export const RETRY_DEFAULTS: Required<RetryOptions> = { max: 2, baseMs: 100, capMs: 2000, maxRetryAfterMs: 10_000 };

/** The retry decisions of one upstream; stateless, so one instance serves every call. */
export class RetryPolicy {
  readonly options: Required<RetryOptions>;

  /** `random` returns [0, 1) (injectable so tests can pin the jitter). */
  constructor(
    options: RetryOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...RETRY_DEFAULTS, ...options };
    for (const [key, value] of Object.entries(this.options)) {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`retries.${key} must be a number >= 0, got ${value}`);
    }
  }

  /**
   * Milliseconds to wait before retrying after `err` failed attempt `attempt` (0 for the first), or
   * undefined to give up now: the error is not retryable, the retries are spent, the upstream asks
   * for a longer wait than allowed, or the wait would run past the call's remaining time.
   */
  delayAfter(err: InferdError, attempt: number, remainingMs: number): number | undefined {
    if (err.details.retryable !== true || attempt >= this.options.max) return undefined;
    const window = Math.min(this.options.capMs, this.options.baseMs * 2 ** attempt);
    const backoff = Math.floor(this.random() * window);
    const retryAfter = err instanceof UpstreamStatusError ? err.retryAfterMs : undefined;
    if (retryAfter !== undefined && retryAfter > this.options.maxRetryAfterMs) return undefined;
    const delay = Math.max(backoff, retryAfter ?? 0);
    return delay < remainingMs ? delay : undefined;
  }
}
