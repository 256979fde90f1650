/**
 * A circuit breaker for one upstream: after `failures` consecutive failed calls it opens, and for
 * `cooldownMs` calls fail at once (the gateway falls back instead of waiting on timeouts of an
 * upstream that is down); then it is half-open: one trial call goes through, and its success
 * closes the circuit, its failure opens it again for another cooldown.
 *
 * Only the upstream's health counts: the Upstream settles a call as a failure for retryable errors
 * (timeouts, connection errors, 429, 5xx) after its retries, and as "neutral" for the client's
 * own errors (a 400) and cancellations.
 */
import { InferdError } from "../../util/errors.js";

/** The breaker's state, as metrics report it. */
export type CircuitState = "closed" | "open" | "half-open";

/** How a call admitted by the breaker ended. "neutral": it says nothing of the upstream's health. */
export type CallOutcome = "success" | "failure" | "neutral";

/** Breaker settings of one upstream. */
export interface CircuitOptions {
  /** Consecutive failed calls that open the circuit (default 5). */
  failures?: number;
  /** How long it stays open before a trial call, in ms (default 30000). */
  cooldownMs?: number;
}

/** The defaults of CircuitOptions. */
export const CIRCUIT_DEFAULTS: Required<CircuitOptions> = { failures: 5, cooldownMs: 30_000 };

/** A call's admission: settle it once with its outcome up to a response's headers (later settles are ignored). */
export interface Permit {
  settle(outcome: CallOutcome): void;
}

export class CircuitBreaker {
  readonly options: Required<CircuitOptions>;
  private consecutive = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  /** `now` is injectable so tests walk the cooldown without waiting. */
  constructor(
    private readonly name: string,
    options: CircuitOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...CIRCUIT_DEFAULTS, ...options };
    if (!Number.isInteger(this.options.failures) || this.options.failures < 1) throw new RangeError(`circuit.failures must be an integer >= 1, got ${this.options.failures}`);
    if (!Number.isFinite(this.options.cooldownMs) || this.options.cooldownMs < 0) throw new RangeError(`circuit.cooldownMs must be >= 0, got ${this.options.cooldownMs}`);
  }

  /** Open turns half-open by itself when its cooldown has passed. */
  get state(): CircuitState {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt < this.options.cooldownMs ? "open" : "half-open";
  }

  /**
   * Admits a call, or throws "unavailable" (retryable, with the time left in the cooldown) while
   * the circuit is open or a half-open trial is already in flight.
   */
  admit(): Permit {
    const state = this.state;
    switch (state) {
      case "closed":
        return this.permit(false);
      case "half-open":
        if (!this.trialInFlight) {
          this.trialInFlight = true;
          return this.permit(true);
        }
        throw this.unavailable(1);
      case "open":
        throw this.unavailable(Math.ceil((this.options.cooldownMs - (this.now() - (this.openedAt ?? 0))) / 1000));
    }
  }

  /**
   * How a 2xx answer's body ended, after its call was settled: "complete" resets the count of
   * consecutive failures, "broken" (cut off mid-stream) adds to it. Only a closed circuit listens:
   * an open or half-open one has its verdict pending.
   */
  recordBody(outcome: "complete" | "broken"): void {
    if (this.openedAt !== undefined) return;
    switch (outcome) {
      case "complete":
        this.consecutive = 0;
        return;
      case "broken":
        this.fail();
        return;
    }
  }

  private permit(trial: boolean): Permit {
    let settled = false;
    return {
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        if (trial) this.trialInFlight = false;
        switch (outcome) {
          case "success":
            // An answer closes an open or half-open circuit; in a closed one the count is reset by
            // a complete body (recordBody), so answers whose streams all break off still add up.
            if (this.openedAt !== undefined) {
              this.openedAt = undefined;
              this.consecutive = 0;
            }
            return;
          case "failure":
            // A failure of a call admitted before the circuit opened does not restart the cooldown.
            if (trial || this.openedAt === undefined) this.fail();
            return;
          case "neutral":
            return; // a trial that ended neutral frees the slot: the next call is the trial
        }
      },
    };
  }

  private fail(): void {
    this.consecutive++;
    if (this.openedAt !== undefined || this.consecutive >= this.options.failures) this.openedAt = this.now();
  }

  private unavailable(retryAfterSeconds: number): InferdError {
    return new InferdError("unavailable", `${this.name} is unavailable (circuit open)`, { retryable: true, retryAfterSeconds: Math.max(1, retryAfterSeconds), code: "circuit_open" });
  }
}
