/**
 * A sliding-window log: the admissions of the last minute, oldest first, each with its tokens.
 *
 * Chosen over a token bucket (GCRA) because it is exact: in every 60-second window the
 * admitted requests and tokens never pass the limits (a bucket lets a full burst through and
 * then refills, up to twice the limit in some minute), its Retry-After is exactly when the
 * entries in the way leave the window, and a request's tokens can be corrected at settle by
 * changing its own entry. Its cost is one entry per request in the last minute, which RPM
 * bounds. redis-scripts.ts runs the same algorithm in Lua; the two must stay in step.
 */
import { WINDOW_MS } from "./limits.js";
import type { RateLimit } from "./refusals.js";

interface Entry {
  id: string;
  at: number;
  tokens: number;
}

/** One key's log. */
export class RequestLog {
  /** Ascending by `at`. */
  private entries: Entry[] = [];
  private readonly byId = new Map<string, Entry>();
  private tokenSum = 0;

  /** Drops entries that left the window: admitted at or before `now - WINDOW_MS`. */
  purge(now: number): void {
    let i = 0;
    while (i < this.entries.length && this.entries[i]!.at <= now - WINDOW_MS) {
      this.tokenSum -= this.entries[i]!.tokens;
      this.byId.delete(this.entries[i]!.id);
      i++;
    }
    if (i > 0) this.entries = this.entries.slice(i);
  }

  /** Requests and tokens in the window (call `purge` first). */
  usage(): { requests: number; tokens: number } {
    return { requests: this.entries.length, tokens: this.tokenSum };
  }

  /**
   * How long until one more request of `tokens` fits under both limits (null: unlimited), or
   * undefined when it fits now. Call `purge(now)` first. `tokens` must be <= tpm.
   */
  wait(now: number, tokens: number, rpm: number | null, tpm: number | null): { which: RateLimit; ms: number } | undefined {
    let wait: { which: RateLimit; ms: number } | undefined;
    const n = this.entries.length;
    if (rpm !== null && n + 1 > rpm) {
      // the (n + 1 - rpm) oldest must leave; the last of them is at index n - rpm
      wait = { which: "requests", ms: this.entries[n - rpm]!.at + WINDOW_MS - now };
    }
    if (tpm !== null && this.tokenSum + tokens > tpm) {
      let freed = 0;
      for (const e of this.entries) {
        freed += e.tokens;
        if (this.tokenSum - freed + tokens <= tpm) {
          const ms = e.at + WINDOW_MS - now;
          if (wait === undefined || ms > wait.ms) wait = { which: "tokens", ms };
          break;
        }
      }
    }
    return wait;
  }

  /** Records an admission. */
  add(id: string, at: number, tokens: number): void {
    const e = { id, at, tokens };
    // admissions come in time order except when a test's clock (or the system's) steps back
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1]!.at > at) i--;
    this.entries.splice(i, 0, e);
    this.byId.set(id, e);
    this.tokenSum += tokens;
  }

  /** Replaces an admission's tokens with its real count; nothing when it already left the window. */
  correct(id: string, tokens: number): void {
    const e = this.byId.get(id);
    if (e === undefined) return;
    this.tokenSum += tokens - e.tokens;
    e.tokens = tokens;
  }

  /** Whether the log holds nothing (its key's state can be dropped). */
  get empty(): boolean {
    return this.entries.length === 0;
  }
}
