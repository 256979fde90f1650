/**
 * Runs the same limits tests against both implementations: in-process, and Redis on a real
 * redis-server this file's hooks start and stop. Call `useLimitsImpls()` at a test file's top
 * level.
 */
import { after, afterEach, before } from "node:test";
import type { ApiKey } from "../src/keys/api-key.js";
import { randomId } from "../src/keys/key-format.js";
import type { Admission, Estimate, Limits } from "../src/keys/limits.js";
import { MemoryLimits } from "../src/keys/memory-limits.js";
import { RedisLimits } from "../src/keys/redis-limits.js";
import { isInferdError, type InferdError } from "../src/util/errors.js";
import { needsRedis, startRedis, type TestRedis } from "./redis.js";

export interface LimitsImpl {
  name: string;
  /** Options for describe(): a skip when this implementation cannot run here. */
  skip: { skip?: string };
  /** A new limiter (a new "replica" for Redis: its own connection), closed after the test. */
  make(opts?: { reservationTtlMs?: number }): Limits;
}

/**
 * Budget keys expire at the end of the period after the one charged, by Redis's clock: test
 * times must be in the future or Redis would drop the keys at once. 31 December 2099,
 * 12:00 UTC: a day and a month (and a year) end 12 hours later.
 */
export const T0 = Date.UTC(2099, 11, 31, 12);

let redis: TestRedis | undefined;

/** The URL of the redis-server `useLimitsImpls` started (inside its tests only). */
export function testRedisUrl(): string {
  if (redis === undefined) throw new Error("no test Redis: call useLimitsImpls() and use this inside a test");
  return redis.url;
}

export function useLimitsImpls(): LimitsImpl[] {
  const open: Limits[] = [];
  before(async () => {
    if (needsRedis.skip === undefined) redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });
  after(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
    await redis?.stop();
  });
  const track = <L extends Limits>(l: L): L => (open.push(l), l);
  return [
    { name: "in-process", skip: {}, make: (o) => track(new MemoryLimits(o)) },
    { name: "Redis", skip: needsRedis, make: (o) => track(new RedisLimits({ url: redis!.url, ...o })) },
  ];
}

/** A key with a fresh id (so tests sharing one Redis never see each other's counts). */
export function testKey(over: Partial<ApiKey> = {}): ApiKey {
  return {
    id: `key_${randomId(16)}`,
    name: "test",
    prefix: "sk-inferd-xxxxxx...",
    createdAt: new Date(T0).toISOString(),
    revokedAt: null,
    budgetUsd: null,
    period: "month",
    soft: false,
    rpm: null,
    tpm: null,
    models: null,
    ...over,
  };
}

/** Admits `n` requests at once; returns the admitted and the refusals (anything else is rethrown). */
export async function admitMany(
  limiters: Limits | Limits[],
  key: ApiKey,
  n: number,
  estimate: Estimate,
  now?: number,
): Promise<{ admitted: Admission[]; refused: InferdError[] }> {
  const ls = Array.isArray(limiters) ? limiters : [limiters];
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => ls[i % ls.length]!.admit(key, estimate, now)));
  const admitted: Admission[] = [];
  const refused: InferdError[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") admitted.push(r.value);
    else if (isInferdError(r.reason, "quota_exceeded") || isInferdError(r.reason, "rate_limited")) refused.push(r.reason);
    else throw r.reason;
  }
  return { admitted, refused };
}
