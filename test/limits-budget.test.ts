/**
 * Budgets, on both limiters: reservations under concurrency, settling, soft budgets, UTC
 * periods, lapsed reservations; on Redis, two replicas sharing one budget.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toApiError, openAiError } from "../src/server/errors.js";
import { isInferdError } from "../src/util/errors.js";
import { RedisLimits } from "../src/keys/redis-limits.js";
import { Redis } from "ioredis";
import { admitMany, T0, testKey, testRedisUrl, useLimitsImpls } from "./limits-helpers.js";
import { startRedis } from "./redis.js";

const impls = useLimitsImpls();
const DIME = { tokens: 100, costUsd: 0.1 };
const NEXT_DAY = Date.UTC(2100, 0, 1); // 12 h after T0: also the next month and year

for (const impl of impls) {
  describe(`budgets: ${impl.name}`, impl.skip, () => {
    it("50 concurrent $0.10 admissions against $1.00 admit exactly 10; the rest get OpenAI's insufficient_quota", async () => {
      const limits = impl.make();
      const key = testKey({ name: "team-a", budgetUsd: 1 });
      const { admitted, refused } = await admitMany(limits, key, 50, DIME, T0);
      assert.equal(admitted.length, 10);
      assert.equal(refused.length, 40);
      const e = refused[0]!;
      assert.ok(isInferdError(e, "quota_exceeded"));
      const api = toApiError(e);
      assert.equal(api.status, 429);
      assert.equal(api.retryAfterSeconds, undefined, "retrying soon cannot help");
      assert.deepEqual(openAiError(api).error, { message: e.message, type: "insufficient_quota", param: null, code: "insufficient_quota" });
      assert.match(e.message, /key "team-a" is \$1\.00 per month \(UTC\)/);
      assert.match(e.message, /\$0\.00 spent and \$1\.00 reserved by requests in flight/);
      assert.match(e.message, /resets at 2100-01-01T00:00:00\.000Z/);
      const s = await limits.state(key, T0);
      assert.deepEqual([s.spentUsd, s.reservedUsd, s.periodEnds], [0, 1, "2100-01-01T00:00:00.000Z"]);
    });

    it("settling at a lower real cost frees the difference for later requests", async () => {
      const limits = impl.make();
      const key = testKey({ budgetUsd: 1 });
      const first = await admitMany(limits, key, 10, DIME, T0);
      assert.equal(first.admitted.length, 10);
      await Promise.all(first.admitted.map((a) => limits.settle(a, { tokens: 50, costUsd: 0.05 })));
      assert.deepEqual(await limits.state(key, T0).then((s) => [s.spentUsd, s.reservedUsd]), [0.5, 0]);
      const second = await admitMany(limits, key, 8, DIME, T0 + 1);
      assert.equal(second.admitted.length, 5, "$0.50 left: five more dimes");
      // an unknown real cost charges the estimate; a second settle of the same admission changes nothing
      await limits.settle(second.admitted[0]!, { tokens: 100, costUsd: null });
      await limits.settle(second.admitted[0]!, { tokens: 100, costUsd: 0.01 });
      assert.deepEqual(await limits.state(key, T0 + 2).then((s) => [s.spentUsd, s.reservedUsd]), [0.6, 0.4]);
    });

    it("a real cost above the estimate is charged in full, and blocks what it overspent", async () => {
      const limits = impl.make();
      const key = testKey({ budgetUsd: 1 });
      const a = await limits.admit(key, DIME, T0);
      await limits.settle(a, { tokens: 100, costUsd: 0.95 });
      await assert.rejects(limits.admit(key, DIME, T0), (e) => isInferdError(e, "quota_exceeded") && /\$0\.95 spent, and this request may cost up to \$0\.10/.test(e.message));
      assert.ok(await limits.admit(key, { tokens: 10, costUsd: 0.05 }, T0), "exactly the rest still fits");
    });

    it("a soft budget never refuses: past it, admissions carry a warning", async () => {
      const limits = impl.make();
      const key = testKey({ name: "soft-one", budgetUsd: 0.3, soft: true, period: "day" });
      const { admitted, refused } = await admitMany(limits, key, 5, DIME, T0);
      assert.equal(refused.length, 0);
      const warned = admitted.filter((a) => a.warning !== undefined);
      assert.equal(warned.length, 2, "the 4th and 5th pass $0.30");
      assert.match(warned[0]!.warning!, /^soft budget of key "soft-one" is \$0\.30 per day \(UTC\).*resets at 2100-01-01T00:00:00\.000Z$/);
      assert.match(warned[0]!.warning!, /^[\x20-\x7e]+$/, "fits in an HTTP header");
    });

    it("periods are UTC calendar days and months: a spent budget is whole again at the boundary", async () => {
      const limits = impl.make();
      const daily = testKey({ budgetUsd: 0.2, period: "day" });
      const monthly = testKey({ budgetUsd: 0.2, period: "month" });
      // spend (settled, so that no reservation lapses in the hours between)
      const spend = async (key: typeof daily, n: number, now: number) => {
        const { admitted } = await admitMany(limits, key, n, DIME, now);
        await Promise.all(admitted.map((a) => limits.settle(a, { tokens: 100, costUsd: 0.1 })));
        return admitted.length;
      };
      for (const key of [daily, monthly]) {
        assert.equal(await spend(key, 3, T0), 2);
        await assert.rejects(limits.admit(key, DIME, NEXT_DAY - 1), (e) => isInferdError(e, "quota_exceeded"));
        assert.equal(await spend(key, 3, NEXT_DAY), 2, `${key.period}: new period, new budget`);
      }
      // mid-month, the daily budget resets the next midnight and the monthly one on the 1st
      const mid = Date.UTC(2100, 0, 15, 23, 59, 59, 999);
      assert.equal(await spend(daily, 2, mid), 2);
      assert.equal(await spend(monthly, 2, mid), 0);
      const refusal = async (key: typeof daily) => (await admitMany(limits, key, 1, DIME, mid)).refused[0]!.message;
      assert.match(await refusal(daily), /resets at 2100-01-16T00:00:00\.000Z/);
      assert.match(await refusal(monthly), /resets at 2100-02-01T00:00:00\.000Z/);
    });

    it("a request settled after the boundary is charged to the period it was admitted in", async () => {
      const limits = impl.make();
      const key = testKey({ budgetUsd: 1, period: "day" });
      const a = await limits.admit(key, DIME, T0);
      await limits.settle(a, { tokens: 80, costUsd: 0.07 });
      const b = await limits.admit(key, DIME, NEXT_DAY - 10);
      await limits.settle(b, { tokens: 80, costUsd: 0.08 });
      const late = await limits.admit(key, DIME, NEXT_DAY - 1);
      assert.equal((await limits.state(key, NEXT_DAY)).reservedUsd, 0, "the new day holds no reservation");
      await limits.settle(late, { tokens: 80, costUsd: 0.09 });
      assert.equal((await limits.state(key, NEXT_DAY)).spentUsd, 0);
      assert.equal((await limits.state(key, T0)).spentUsd, 0.24);
    });

    it("a reservation never settled (its replica died) lapses after the reservation TTL", async () => {
      const limits = impl.make({ reservationTtlMs: 1000 });
      const key = testKey({ budgetUsd: 0.1 });
      await limits.admit(key, DIME, T0);
      await assert.rejects(limits.admit(key, DIME, T0 + 999), (e) => isInferdError(e, "quota_exceeded"));
      assert.equal((await limits.state(key, T0 + 1000)).reservedUsd, 0);
      assert.ok(await limits.admit(key, DIME, T0 + 1000));
    });

    it("a key without a budget is never refused for money, and its spend is still counted", async () => {
      const limits = impl.make();
      const key = testKey();
      const { admitted } = await admitMany(limits, key, 20, { tokens: 10, costUsd: 1000 }, T0);
      assert.equal(admitted.length, 20);
      await Promise.all(admitted.map((a) => limits.settle(a, { tokens: 10, costUsd: 0.001 })));
      assert.equal((await limits.state(key, T0)).spentUsd, 0.02);
    });
  });
}

const redisImpl = impls.find((i) => i.name === "Redis")!;
describe("budgets: two Redis replicas share one budget", redisImpl.skip, () => {
  it("60 concurrent admissions spread over two replicas admit exactly 10 in all", async () => {
    const [a, b] = [redisImpl.make(), redisImpl.make()];
    const key = testKey({ budgetUsd: 1 });
    const { admitted, refused } = await admitMany([a, b], key, 60, DIME, T0);
    assert.equal(admitted.length, 10);
    assert.equal(refused.length, 50);
    // what one replica settles, the other sees
    await Promise.all(admitted.slice(0, 4).map((x) => a.settle(x, { tokens: 10, costUsd: 0 })));
    const s = await b.state(key, T0);
    assert.deepEqual([s.spentUsd, s.reservedUsd], [0, 0.6]);
    assert.equal((await admitMany([b, a], key, 10, DIME, T0)).admitted.length, 4);
  });
});

describe("budgets: what RedisLimits leaves in Redis", redisImpl.skip, () => {
  it("every key it writes expires; all of one API key share a hash tag", async () => {
    const limits = redisImpl.make();
    const key = testKey({ budgetUsd: 1, rpm: 10, tpm: 1000 });
    const a = await limits.admit(key, DIME, T0);
    await limits.settle(a, { tokens: 50, costUsd: 0.05 });
    await limits.admit(key, DIME, T0 + 1);
    await limits.state(key, T0 + 2);
    const raw = new Redis(testRedisUrl());
    try {
      const names = (await raw.keys("*")).filter((k) => k.includes(key.id)).sort();
      assert.equal(names.length, 4, names.join(" "));
      for (const n of names) {
        assert.ok(n.startsWith(`inferd:{${key.id}}:`), n);
        assert.ok((await raw.pttl(n)) > 0, `${n} expires`);
      }
      const budget = names.find((n) => n.includes(":budget:"))!;
      assert.deepEqual(await raw.hmget(budget, "spent", "reserved"), ["50000000", "100000000"]);
    } finally {
      raw.disconnect();
    }
  });
});

describe("budgets: Redis down", redisImpl.skip, () => {
  it("admit fails closed, 503 unavailable naming the store, and quickly", async () => {
    const gone = await startRedis();
    await gone.stop();
    const limits = new RedisLimits({ url: gone.url });
    try {
      const t = Date.now();
      await assert.rejects(limits.admit(testKey({ budgetUsd: 1 }), DIME, T0), (e) => {
        assert.ok(isInferdError(e, "unavailable"), String(e));
        assert.equal(toApiError(e).status, 503);
        assert.match(e.message, /^limits store \(Redis\) failed: /);
        return true;
      });
      assert.ok(Date.now() - t < 5000, `failed in ${Date.now() - t} ms`);
    } finally {
      await limits.close();
    }
  });
});
