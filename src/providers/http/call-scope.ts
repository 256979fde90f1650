/**
 * The lifetime of one upstream call, from `post()` to the end of its body: the caller's signal
 * and the total timeout merged into the one signal that undici and the backoff sleeps obey, and
 * the classification of whatever error ends the call. Keeping both in one object is what makes a
 * cancellation always read as "aborted" and a total timeout always as "total timeout", whichever
 * layer (connect, headers, backoff, body) the abort interrupted.
 */
import { InferdError } from "../../util/errors.js";
import { abortedError, redact, timeoutError, transportError, type CallPhase } from "./upstream-errors.js";

/** An upstream's four timeouts in ms; 0 turns one off. */
export interface UpstreamTimeouts {
  /** TCP (and TLS) connection established (default 10000). */
  connectMs: number;
  /**
   * Response headers received after the request was sent (default 120000). A non-streamed
   * completion's headers come only once the whole answer is generated: keep this generous.
   */
  firstByteMs: number;
  /** Longest gap between two chunks of the body (default 60000); a paused reader does not count. */
  idleMs: number;
  /** The whole call: connect, retries and their waits, and reading the body (default 600000). */
  totalMs: number;
}

/** The defaults of UpstreamTimeouts. */
export const TIMEOUT_DEFAULTS: UpstreamTimeouts = { connectMs: 10_000, firstByteMs: 120_000, idleMs: 60_000, totalMs: 600_000 };

/** What a scope needs of its upstream. */
export interface ScopeContext {
  name: string;
  apiKey: string | undefined;
  timeouts: UpstreamTimeouts;
  now: () => number;
}

export class CallScope {
  private readonly controller = new AbortController();
  private readonly startedAt: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private totalFired = false;
  private readonly onCallerAbort = () => this.controller.abort(abortedError(this.ctx.name));

  constructor(
    private readonly ctx: ScopeContext,
    private readonly caller: AbortSignal,
  ) {
    this.startedAt = ctx.now();
    if (caller.aborted) this.onCallerAbort();
    else caller.addEventListener("abort", this.onCallerAbort, { once: true });
    const { totalMs } = ctx.timeouts;
    if (totalMs > 0) {
      this.timer = setTimeout(() => {
        this.totalFired = true;
        this.controller.abort(timeoutError(ctx.name, "total", totalMs));
      }, totalMs);
      // An abandoned call must not keep the process alive for ten minutes.
      this.timer.unref();
    }
  }

  /** Aborted when the caller cancels or the total timeout fires. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Time left before the total timeout (Infinity without one), by the injectable clock. */
  remainingMs(): number {
    const { totalMs } = this.ctx.timeouts;
    return totalMs > 0 ? totalMs - (this.ctx.now() - this.startedAt) : Infinity;
  }

  /**
   * The error to throw for `e`: "aborted" when the caller cancelled, the total timeout when it
   * fired (whatever error the abort caused underneath), else `e` classified; the key redacted.
   */
  fail(e: unknown, phase: CallPhase): InferdError {
    let err: InferdError;
    if (this.caller.aborted) err = abortedError(this.ctx.name);
    else if (this.totalFired) err = timeoutError(this.ctx.name, "total", this.ctx.timeouts.totalMs);
    else if (e instanceof InferdError) err = e;
    else err = transportError(this.ctx.name, e, phase, this.ctx.timeouts);
    return redact(err, this.ctx.apiKey);
  }

  /** Ends the scope (call failed, or its body was read to the end or abandoned). Idempotent. */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.caller.removeEventListener("abort", this.onCallerAbort);
  }
}
