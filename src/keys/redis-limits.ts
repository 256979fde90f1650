/**
 * Limits kept in Redis, so that several inferd replicas share each key's budget and rate
 * limits. Every admit, settle and state is one Lua script (redis-scripts.ts), sent by EVALSHA
 * (ioredis falls back to EVAL once when Redis does not have it cached): Redis runs each alone,
 * so reserve-check-and-add is atomic across replicas, the same guarantee MemoryLimits gives
 * inside one process.
 *
 * Redis is the only record of spend here: give it persistence (AOF or RDB) in production, or a
 * restart of Redis forgets the period's spend. Budget keys expire at the end of the period after
 * their own; window keys a minute after their last admission.
 *
 * When Redis cannot be reached, admit fails closed (InferdError "unavailable", 503): budgets are
 * money, and letting requests through unmetered is the wrong default. A settle that fails leaves
 * its reservation to lapse after `reservationTtlMs` and throws so the caller logs it.
 */
import { Redis } from "ioredis";
import { firstLine, InferdError } from "../util/errors.js";
import type { ApiKey } from "./api-key.js";
import {
  checkAmounts,
  DEFAULT_RESERVATION_TTL_MS,
  fromNano,
  toNano,
  WINDOW_MS,
  type Actual,
  type Admission,
  type Estimate,
  type KeyUsage,
  type Limits,
} from "./limits.js";
import { randomId } from "./key-format.js";
import { periodEnd, periodStart, type Period } from "./periods.js";
import { budgetExceeded, budgetWarning, rateLimited, tooLargeForTpm, type RateLimit } from "./refusals.js";
import { ADMIT, SETTLE, STATE } from "./redis-scripts.js";

export interface RedisLimitsOptions {
  /** redis://[:password@]host:port[/db] */
  url: string;
  /** Prefix of every key this limiter writes (default "inferd"), to share a Redis with other uses. */
  prefix?: string;
  reservationTtlMs?: number;
  /** How long one script may take before the request fails as unavailable (default 2000 ms). */
  commandTimeoutMs?: number;
}

type Arg = string | number;

/** The client with the scripts defined on it (ioredis adds them as methods at run time). */
type ScriptedRedis = Redis & {
  inferdAdmit(...args: Arg[]): Promise<string[]>;
  inferdSettle(...args: Arg[]): Promise<string[]>;
  inferdState(...args: Arg[]): Promise<string[]>;
};

/** Limits shared by every replica that points at the same Redis. */
export class RedisLimits implements Limits {
  private readonly redis: ScriptedRedis;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly settled = new WeakSet<Admission>();
  /** The last connection error logged, so an outage is logged once, not at every retry. */
  private lastError: string | undefined;

  constructor(opts: RedisLimitsOptions) {
    this.prefix = opts.prefix ?? "inferd";
    this.ttlMs = opts.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    const redis = new Redis(opts.url, {
      // fail a request fast while Redis is away instead of queueing it for ioredis's 20 retries
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: 5000,
    });
    redis.on("error", (e: Error) => {
      if (e.message === this.lastError) return;
      this.lastError = e.message;
      console.error(`[inferd] limits store (Redis): ${firstLine(e)}`);
    });
    redis.on("ready", () => (this.lastError = undefined));
    redis.defineCommand("inferdAdmit", { numberOfKeys: 4, lua: ADMIT });
    redis.defineCommand("inferdSettle", { numberOfKeys: 4, lua: SETTLE });
    redis.defineCommand("inferdState", { numberOfKeys: 4, lua: STATE });
    this.redis = redis as ScriptedRedis;
  }

  async admit(key: ApiKey, estimate: Estimate, now?: number): Promise<Admission> {
    checkAmounts("admit", estimate.tokens, estimate.costUsd);
    if (key.tpm !== null && estimate.tokens > key.tpm) throw tooLargeForTpm(key, estimate.tokens);
    // the budget period follows this host's clock (a few ms of skew at midnight do not matter);
    // the rate window follows Redis's, which all replicas share
    const periodNow = now ?? Date.now();
    const start = periodStart(key.period, periodNow);
    const end = periodEnd(key.period, periodNow);
    const id = randomId(16);
    const estimateNano = toNano(estimate.costUsd);
    const r = await this.run(() =>
      this.redis.inferdAdmit(
        ...this.keysOf(key.id, start),
        now ?? "",
        id,
        estimateNano,
        estimate.tokens,
        key.budgetUsd === null ? "" : toNano(key.budgetUsd),
        key.soft ? "1" : "0",
        key.rpm ?? "",
        key.tpm ?? "",
        this.ttlMs,
        this.expiry(key.period, start),
        WINDOW_MS,
      ),
    );
    const figures = (spent: string, reserved: string) => ({ spentNano: Number(spent), reservedNano: Number(reserved), estimateNano, periodEnd: end });
    const verdict = r[0];
    switch (verdict) {
      case "budget":
        throw budgetExceeded(key, figures(r[1]!, r[2]!));
      case "rate": {
        const which = r[1] as RateLimit;
        throw rateLimited(key, { which, used: Number(r[2]), requested: which === "requests" ? 1 : estimate.tokens, retryAfterMs: Number(r[3]) });
      }
      case "ok": {
        const a: Admission = {
          id,
          keyId: key.id,
          keyName: key.name,
          period: key.period,
          periodStart: start,
          admittedAt: Number(r[4]),
          reservedUsd: fromNano(estimateNano),
          reservedTokens: estimate.tokens,
        };
        if (r[1] === "1") a.warning = budgetWarning(key, figures(r[2]!, r[3]!));
        return a;
      }
      default:
        throw new InferdError("internal", `limits store (Redis): unexpected admit reply ${JSON.stringify(r)}`);
    }
  }

  async settle(a: Admission, actual: Actual): Promise<void> {
    if (this.settled.has(a)) return;
    checkAmounts("settle", actual.tokens, actual.costUsd);
    const nano = actual.costUsd === null ? toNano(a.reservedUsd) : toNano(actual.costUsd);
    await this.run(() => this.redis.inferdSettle(...this.keysOf(a.keyId, a.periodStart), a.id, nano, actual.tokens, this.expiry(a.period, a.periodStart)));
    this.settled.add(a);
  }

  async state(key: ApiKey, now?: number): Promise<KeyUsage> {
    const periodNow = now ?? Date.now();
    const start = periodStart(key.period, periodNow);
    const r = await this.run(() => this.redis.inferdState(...this.keysOf(key.id, start), now ?? "", WINDOW_MS));
    return {
      spentUsd: fromNano(Number(r[0])),
      reservedUsd: fromNano(Number(r[1])),
      budgetUsd: key.budgetUsd,
      periodStarts: new Date(start).toISOString(),
      periodEnds: new Date(periodEnd(key.period, periodNow)).toISOString(),
      rpmUsed: Number(r[2]),
      tpmUsed: Number(r[3]),
    };
  }

  async close(): Promise<void> {
    // QUIT lets replies in flight arrive; a connection that is down has none, and would wait to reconnect
    if (this.redis.status === "ready") await this.redis.quit();
    else this.redis.disconnect();
  }

  /** The four keys of one API key and period; one hash tag, so one Cluster slot. */
  private keysOf(keyId: string, start: number): [string, string, string, string] {
    const base = `${this.prefix}:{${keyId}}`;
    return [`${base}:budget:${start}`, `${base}:leases:${start}`, `${base}:window`, `${base}:window-tokens`];
  }

  /** Budget keys live until the end of the period after their own, so last period's spend can still be read. */
  private expiry(period: Period, start: number): number {
    return periodEnd(period, periodEnd(period, start));
  }

  /** Runs a script; a Redis failure becomes InferdError "unavailable" (503) naming it. */
  private async run(f: () => Promise<string[]>): Promise<string[]> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof InferdError) throw e;
      throw new InferdError("unavailable", `limits store (Redis) failed: ${firstLine(e)}`, { retryable: true });
    }
  }
}
