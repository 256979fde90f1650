/**
 * Rate limits, on both limiters: RPM and TPM under concurrency, the sliding window, Retry-After,
 * TPM corrected at settle; on Redis, two replicas sharing one limit, on Redis's own clock too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openAiError, toApiError } from "../src/server/errors.js";
import { isInferdError, type InferdError } from "../src/util/errors.js";
import { admitMany, T0, testKey, useLimitsImpls } from "./limits-helpers.js";

const impls = useLimitsImpls();
const ONE = { tokens: 10, costUsd: 0 };

function retryAfter(e: InferdError): number {
  assert.ok(isInferdError(e, "rate_limited"), `rate_limited, not ${e.kind}: ${e.message}`);
  return e.details.retryAfterSeconds!;
}

for (const impl of impls) {
  describe(`rate limits: ${impl.name}`, impl.skip, () => {
    it("RPM: 20 concurrent requests against 5 per minute admit exactly 5; the 429 says when to retry", async () => {
      const limits = impl.make();
      const key = testKey({ name: "bursty", rpm: 5 });
      const { admitted, refused } = await admitMany(limits, key, 20, ONE, T0);
      assert.equal(admitted.length, 5);
      assert.equal(refused.length, 15);
      const e = refused[0]!;
      assert.equal(retryAfter(e), 60);
      const api = toApiError(e);
      assert.equal(api.status, 429);
      assert.deepEqual(openAiError(api).error, { message: e.message, type: "requests", param: null, code: "rate_limit_exceeded" });
      assert.match(e.message, /key "bursty" reached on requests per minute \(RPM\): limit 5, used 5, requested 1; try again in 60s/);
      assert.equal((await limits.state(key, T0)).rpmUsed, 5);
    });

    it("RPM: the window slides; Retry-After is when the oldest entry in the way leaves it", async () => {
      const limits = impl.make();
      const key = testKey({ rpm: 4 });
      assert.equal((await admitMany(limits, key, 2, ONE, T0)).admitted.length, 2);
      assert.equal((await admitMany(limits, key, 2, ONE, T0 + 20_000)).admitted.length, 2);
      const at30 = await admitMany(limits, key, 1, ONE, T0 + 30_000);
      assert.equal(retryAfter(at30.refused[0]!), 30, "the two from T0 leave at T0 + 60 s");
      // 0.5 s before they leave: rounded up, never 0
      assert.equal(retryAfter((await admitMany(limits, key, 1, ONE, T0 + 59_500)).refused[0]!), 1);
      const at60 = await admitMany(limits, key, 5, ONE, T0 + 60_000);
      assert.equal(at60.admitted.length, 2, "exactly the two that left are free again");
      assert.equal(retryAfter(at60.refused[0]!), 20, "next, the two from T0 + 20 s");
      assert.equal((await limits.state(key, T0 + 60_000)).rpmUsed, 4);
    });

    it("TPM: counts prompt + max_tokens at admission, exactly, under concurrency", async () => {
      const limits = impl.make();
      const key = testKey({ tpm: 1000 });
      const { admitted, refused } = await admitMany(limits, key, 30, { tokens: 100, costUsd: 0 }, T0);
      assert.equal(admitted.length, 10);
      const e = refused[0]!;
      assert.equal(retryAfter(e), 60);
      assert.equal(e.details.type, "tokens");
      assert.match(e.message, /tokens per minute \(TPM\): limit 1000, used 1000, requested 100/);
    });

    it("TPM: settle replaces the estimate with the real count, freeing the rest of the window", async () => {
      const limits = impl.make();
      const key = testKey({ tpm: 1000 });
      const first = await admitMany(limits, key, 10, { tokens: 100, costUsd: 0 }, T0);
      await Promise.all(first.admitted.map((a) => limits.settle(a, { tokens: 40, costUsd: 0 })));
      assert.equal((await limits.state(key, T0 + 1)).tpmUsed, 400);
      const second = await admitMany(limits, key, 10, { tokens: 100, costUsd: 0 }, T0 + 10_000);
      assert.equal(second.admitted.length, 6);
      // 1000 in the window: a 300-token request needs 300 freed, which the T0 entries at their
      // real 40 tokens give after eight of them leave, at T0 + 60 s (at 100 each: three)
      const big = await admitMany(limits, key, 1, { tokens: 300, costUsd: 0 }, T0 + 20_000);
      assert.equal(retryAfter(big.refused[0]!), 40);
    });

    it("a request larger than the whole TPM is a 400 naming max_tokens, not a 429 to retry", async () => {
      const limits = impl.make();
      const key = testKey({ name: "tiny", tpm: 500 });
      await assert.rejects(limits.admit(key, { tokens: 501, costUsd: 0 }, T0), (e) => {
        assert.ok(isInferdError(e, "invalid_argument"));
        assert.equal(toApiError(e).status, 400);
        assert.equal(e.details.param, "max_tokens");
        assert.match(e.message, /501 tokens, more than its limit of 500 tokens per minute/);
        return true;
      });
      assert.ok(await limits.admit(key, { tokens: 500, costUsd: 0 }, T0), "exactly the limit fits");
    });

    it("RPM and TPM together: Retry-After waits for both; a refused request takes nothing", async () => {
      const limits = impl.make();
      const key = testKey({ rpm: 3, tpm: 300, budgetUsd: 1 });
      await limits.admit(key, { tokens: 200, costUsd: 0.1 }, T0);
      await limits.admit(key, { tokens: 50, costUsd: 0.1 }, T0 + 30_000);
      await limits.admit(key, { tokens: 50, costUsd: 0.1 }, T0 + 40_000);
      const e = (await admitMany(limits, key, 1, { tokens: 100, costUsd: 0.1 }, T0 + 45_000)).refused[0]!;
      assert.equal(retryAfter(e), 15, "RPM frees at T0 + 60 s; so does TPM (the 200 leaves)");
      const e2 = (await admitMany(limits, key, 1, { tokens: 250, costUsd: 0.1 }, T0 + 45_000)).refused[0]!;
      assert.equal(retryAfter(e2), 45, "250 tokens need the T0 + 30 s entry gone too");
      assert.equal(e2.details.type, "tokens");
      const s = await limits.state(key, T0 + 45_000);
      assert.deepEqual([s.rpmUsed, s.tpmUsed, s.reservedUsd], [3, 300, 0.3]);
    });

    it("a budget refusal takes no rate capacity", async () => {
      const limits = impl.make();
      const key = testKey({ rpm: 2, budgetUsd: 0.1 });
      await limits.admit(key, { tokens: 1, costUsd: 0.1 }, T0);
      await assert.rejects(limits.admit(key, { tokens: 1, costUsd: 0.1 }, T0), (e) => isInferdError(e, "quota_exceeded"));
      assert.ok(await limits.admit(key, { tokens: 1, costUsd: 0 }, T0), "the second RPM slot is still free");
    });
  });
}

const redisImpl = impls.find((i) => i.name === "Redis")!;
describe("rate limits: two Redis replicas share one limit", redisImpl.skip, () => {
  it("their combined admissions never pass RPM or TPM", async () => {
    const [a, b] = [redisImpl.make(), redisImpl.make()];
    const rpmKey = testKey({ rpm: 7 });
    assert.equal((await admitMany([a, b], rpmKey, 40, ONE, T0)).admitted.length, 7);
    const tpmKey = testKey({ tpm: 1000 });
    const { admitted } = await admitMany([a, b], tpmKey, 40, { tokens: 90, costUsd: 0 }, T0);
    assert.equal(admitted.length, 11);
    assert.deepEqual(await b.state(tpmKey, T0).then((s) => [s.rpmUsed, s.tpmUsed]), [11, 990]);
  });

  it("on Redis's own clock (no time given) as well", async () => {
    const [a, b] = [redisImpl.make(), redisImpl.make()];
    const key = testKey({ rpm: 7 });
    const { admitted, refused } = await admitMany([a, b], key, 30, ONE);
    assert.equal(admitted.length, 7);
    const wait = retryAfter(refused[0]!);
    assert.ok(wait >= 59 && wait <= 60, `Retry-After ${wait}`);
    const skew = Math.abs(admitted[0]!.admittedAt - Date.now());
    assert.ok(skew < 5000, `admittedAt is Redis's clock, near this one (${skew} ms apart)`);
  });
});
