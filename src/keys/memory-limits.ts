/**
 * The in-process limiter: the default, for one inferd replica. Each `admit` checks and reserves
 * in one synchronous turn of the event loop (no await between the check and the reservation),
 * so concurrent requests are decided one after another and can never overspend a budget or
 * pass a rate limit together. Spend per period goes to a SpendLedger (the key store's SQLite
 * file) so it survives restarts; reservations and rate windows live only in memory, which is
 * right: they belong to requests of this process, which a restart ends.
 *
 * Several replicas each running this would each enforce the full limits: use RedisLimits.
 */
import type { ApiKey } from "./api-key.js";
import { randomId } from "./key-format.js";
import {
  checkAmounts,
  DEFAULT_RESERVATION_TTL_MS,
  fromNano,
  toNano,
  type Actual,
  type Admission,
  type Estimate,
  type KeyUsage,
  type Limits,
  type SpendLedger,
} from "./limits.js";
import { periodEnd, periodStart } from "./periods.js";
import { budgetExceeded, budgetWarning, rateLimited, tooLargeForTpm } from "./refusals.js";
import { RequestLog } from "./request-log.js";

/** One key's budget in one period. */
interface PeriodBudget {
  spentNano: number;
  reservedNano: number;
  /** Admission id -> its reservation, until settled or lapsed. */
  reservations: Map<string, { nano: number; expiresAt: number }>;
}

interface KeyState {
  log: RequestLog;
  /** Period start -> budget: the current period, the previous one, and older ones still settling. */
  budgets: Map<number, PeriodBudget>;
}

export interface MemoryLimitsOptions {
  /** Where spend is kept across restarts; none: in memory only (tests, throwaway servers). */
  ledger?: SpendLedger;
  reservationTtlMs?: number;
  /** The clock when a call gives no `now`. */
  clock?: () => number;
}

/** Limits kept in this process. */
export class MemoryLimits implements Limits {
  private readonly keys = new Map<string, KeyState>();
  private readonly settled = new WeakSet<Admission>();
  private readonly ttlMs: number;
  private readonly clock: () => number;

  constructor(private readonly opts: MemoryLimitsOptions = {}) {
    this.ttlMs = opts.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.clock = opts.clock ?? Date.now;
  }

  async admit(key: ApiKey, estimate: Estimate, now = this.clock()): Promise<Admission> {
    checkAmounts("admit", estimate.tokens, estimate.costUsd);
    if (key.tpm !== null && estimate.tokens > key.tpm) throw tooLargeForTpm(key, estimate.tokens);
    // from here to the end: synchronous, so this admission is atomic
    const state = this.stateOf(key.id);
    const start = periodStart(key.period, now);
    const budget = this.budget(key.id, state, start, now);
    const estimateNano = toNano(estimate.costUsd);
    const figures = { spentNano: budget.spentNano, reservedNano: budget.reservedNano, estimateNano, periodEnd: periodEnd(key.period, now) };
    const over = key.budgetUsd !== null && budget.spentNano + budget.reservedNano + estimateNano > toNano(key.budgetUsd);
    if (over && !key.soft) throw budgetExceeded(key, figures);
    state.log.purge(now);
    const wait = state.log.wait(now, estimate.tokens, key.rpm, key.tpm);
    if (wait !== undefined) {
      const usage = state.log.usage();
      throw rateLimited(key, { which: wait.which, used: wait.which === "requests" ? usage.requests : usage.tokens, requested: wait.which === "requests" ? 1 : estimate.tokens, retryAfterMs: wait.ms });
    }
    const id = randomId(16);
    budget.reservations.set(id, { nano: estimateNano, expiresAt: now + this.ttlMs });
    budget.reservedNano += estimateNano;
    state.log.add(id, now, estimate.tokens);
    const admission: Admission = {
      id,
      keyId: key.id,
      keyName: key.name,
      period: key.period,
      periodStart: start,
      admittedAt: now,
      reservedUsd: fromNano(estimateNano),
      reservedTokens: estimate.tokens,
    };
    if (over) admission.warning = budgetWarning(key, figures);
    return admission;
  }

  async settle(a: Admission, actual: Actual): Promise<void> {
    if (this.settled.has(a)) return;
    checkAmounts("settle", actual.tokens, actual.costUsd);
    this.settled.add(a);
    const state = this.stateOf(a.keyId);
    const budget = this.budget(a.keyId, state, a.periodStart, this.clock());
    const reservation = budget.reservations.get(a.id);
    if (reservation !== undefined) {
      budget.reservations.delete(a.id);
      budget.reservedNano -= reservation.nano;
    }
    const nano = actual.costUsd === null ? toNano(a.reservedUsd) : toNano(actual.costUsd);
    budget.spentNano += nano;
    state.log.correct(a.id, actual.tokens);
    // last, so that a ledger that fails (disk full) throws after memory is already right
    this.opts.ledger?.addSpent(a.keyId, a.periodStart, nano);
  }

  async state(key: ApiKey, now = this.clock()): Promise<KeyUsage> {
    const state = this.stateOf(key.id);
    const start = periodStart(key.period, now);
    const budget = this.budget(key.id, state, start, now);
    state.log.purge(now);
    const usage = state.log.usage();
    return {
      spentUsd: fromNano(budget.spentNano),
      reservedUsd: fromNano(budget.reservedNano),
      budgetUsd: key.budgetUsd,
      periodStarts: new Date(start).toISOString(),
      periodEnds: new Date(periodEnd(key.period, now)).toISOString(),
      rpmUsed: usage.requests,
      tpmUsed: usage.tokens,
    };
  }

  async close(): Promise<void> {
    this.keys.clear();
  }

  private stateOf(keyId: string): KeyState {
    let s = this.keys.get(keyId);
    if (s === undefined) {
      s = { log: new RequestLog(), budgets: new Map() };
      this.keys.set(keyId, s);
    }
    return s;
  }

  /** The key's budget for the period starting at `start`, its lapsed reservations dropped. */
  private budget(keyId: string, state: KeyState, start: number, now: number): PeriodBudget {
    let b = state.budgets.get(start);
    if (b === undefined) {
      b = { spentNano: this.opts.ledger?.spentNano(keyId, start) ?? 0, reservedNano: 0, reservations: new Map() };
      state.budgets.set(start, b);
      // keep the previous period (like Redis does, so its spend can still be read), and older
      // ones only while requests admitted in them are still running
      const earlier = [...state.budgets.keys()].filter((s) => s < start);
      const previous = Math.max(...earlier);
      for (const s of earlier) if (s !== previous && state.budgets.get(s)!.reservations.size === 0) state.budgets.delete(s);
    }
    for (const [id, r] of b.reservations) {
      if (r.expiresAt <= now) {
        b.reservations.delete(id);
        b.reservedNano -= r.nano;
      }
    }
    return b;
  }
}
