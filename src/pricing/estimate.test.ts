import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { estimateCosts, type EstimateRow } from "./estimate.js";
import { localCapacity, localPricePerMillion } from "./local-rates.js";
import { priceTable } from "./table.js";

const table = priceTable();
const LOAD = { requestsPerDay: 10_000, inputTokens: 500, outputTokens: 200, cachedShare: 0.6 };
const hosted = (r: EstimateRow | undefined) => {
  assert.equal(r?.kind, "hosted");
  return r as Extract<EstimateRow, { kind: "hosted" }>;
};

describe("cost estimate: hosted models", () => {
  it("prices a month (30 days) of requests exactly from the table", () => {
    const rows = estimateCosts(LOAD, { table, models: ["gpt-4o", "claude-sonnet-4-5-20250929", "gemini-2.5-flash"] });
    // gpt-4o: 200 uncached*2.5 + 300 cached*1.25 + 200 out*10 = 500 + 375 + 2000 = 2875 micro-dollars; x 300000 requests
    const gpt = hosted(rows[0]);
    assert.deepEqual([gpt.perRequestUsd, gpt.monthlyUsd, gpt.monthlyUsdExact, gpt.family, gpt.tier, gpt.warnings], [0.002875, 862.5, "862.5", "openai", null, []]);
    // claude-sonnet-4-5 (a dated id): 200*3 + 300*0.3 + 200*15 = 600 + 90 + 3000 = 3690
    const claude = hosted(rows[1]);
    assert.deepEqual([claude.pricedAs, claude.perRequestUsd, claude.monthlyUsd], ["claude-sonnet-4-5", 0.00369, 1107]);
    // gemini-2.5-flash: 200*0.3 + 300*0.075 + 200*2.5 = 60 + 22.5 + 500 = 582.5
    assert.deepEqual([hosted(rows[2]).perRequestUsd, hosted(rows[2]).monthlyUsd], [0.0005825, 174.75]);
  });

  it("a cached share is exact: 1000 prompt tokens at 0.9 cached are 100 uncached, not 99.99999999999997", () => {
    assert.notEqual(1000 * (1 - 0.9), 100);
    // gpt-4o: 100*2.5 + 900*1.25 = 250 + 1125 = 1375 micro-dollars a request, 210 requests a month
    const r = hosted(estimateCosts({ requestsPerDay: 7, inputTokens: 1000, outputTokens: 0, cachedShare: 0.9 }, { table, models: ["gpt-4o"] })[0]);
    assert.deepEqual([r.perRequestUsdExact, r.monthlyUsdExact], ["0.001375", "0.28875"]);
  });

  it("chooses the long-context tier by one request's prompt", () => {
    // 250000-token prompts on claude-sonnet-4-5: 250000*6 + 1000*22.5 = 1522500 micro-dollars; 100 a day for 30 days
    const r = hosted(estimateCosts({ requestsPerDay: 100, inputTokens: 250_000, outputTokens: 1000, cachedShare: 0 }, { table, models: ["claude-sonnet-4-5"] })[0]);
    assert.deepEqual([r.tier, r.perRequestUsd, r.monthlyUsd], [200_000, 1.5225, 4567.5]);
  });

  it("says when cached tokens are billed at the input rate, and lists a model without a price as unpriced", () => {
    const [groq, none] = estimateCosts(LOAD, { table, models: ["llama-3.3-70b-versatile", "no-such-model"] });
    // 500*0.59 + 200*0.79 = 295 + 158 = 453 micro-dollars: the cached share buys nothing here
    assert.deepEqual([hosted(groq).perRequestUsd, hosted(groq).monthlyUsd], [0.000453, 135.9]);
    assert.match(hosted(groq).warnings[0]!, /no cached-input rate/);
    assert.deepEqual(none, { kind: "unpriced", model: "no-such-model", warnings: ['no price for "no-such-model": not in the price table (and no local throughput given)'] });
  });

  it("defaults to every table row, then the local models; refuses a bad load", () => {
    const local = [{ model: "small", inputTokensPerSecond: 2000, outputTokensPerSecond: 50, usdPerHour: 0.126 }];
    const rows = estimateCosts(LOAD, { table, local });
    assert.equal(rows.length, table.rows.length + 1);
    assert.equal(rows.at(-1)?.kind, "local");
    assert.throws(() => estimateCosts({ ...LOAD, cachedShare: 1.5 }, { table }), /cached-share must be between 0 and 1/);
    assert.throws(() => estimateCosts({ ...LOAD, requestsPerDay: 0 }, { table }), /requests-per-day must be an integer >= 1/);
  });
});

describe("cost estimate: local models", () => {
  const small = { model: "small", inputTokensPerSecond: 2000, outputTokensPerSecond: 50, usdPerHour: 0.126, batchSize: 8 };

  it("per-1M-token prices from measured throughput and the machine's hour", () => {
    // 1M prompt tokens at 2000/s: 500 s at 0.126/3600 = 0.000035 $/s; 1M output tokens at 50/s: 20000 s
    assert.deepEqual(localPricePerMillion(small), { input: 0.0175, output: 0.7, inputExact: "0.0175", outputExact: "0.7" });
    assert.throws(() => localPricePerMillion({ ...small, outputTokensPerSecond: 0 }), /outputTokensPerSecond must be > 0/);
  });

  it("machines needed and their month: compute per request, rounded up per second of the day", () => {
    const row = estimateCosts(LOAD, { table, models: ["small"], local: [small] })[0]!;
    assert.equal(row.kind, "local");
    if (row.kind !== "local") return;
    // per request: 200 uncached prompt tokens / 2000 + 200 output / 50 = 0.1 + 4 = 4.1 s; 41000 s a day is 0.47 of a machine
    assert.equal(row.machines, 1);
    assert.equal(row.computeSecondsPerSecond, 41_000 / 86_400);
    assert.equal(row.utilization, 41_000 / 86_400);
    // a request's share: 4.1 s * 0.000035 $/s; the month: 1 machine * 0.126 * 24 * 30
    assert.deepEqual([row.perRequestUsdExact, row.monthlyUsd, row.monthlyUsdExact], ["0.0001435", 90.72, "90.72"]);
  });

  it("exactly 2 machine-seconds per second need 2 machines; one more request needs 3", () => {
    // 4 s a request (200 output tokens at 50/s): 43200 requests are 172800 s, two machines' day
    const load = { requestsPerDay: 43_200, inputTokens: 0, outputTokens: 200, cachedShare: 0 };
    const two = localCapacity(small, load, 30);
    assert.deepEqual([two.machines, two.utilization, two.computeSecondsPerRequest], [2, 1, 4]);
    assert.equal(two.total, 181_440_000_000_000_000_000n, "2 * 0.126 * 720 = $181.44");
    assert.equal(localCapacity(small, { ...load, requestsPerDay: 43_201 }, 30).machines, 3);
    // throughput floats cannot divide evenly: 3 tokens at 0.3/s is exactly 10 s (3 / 0.3 is 10.000000000000002), so
    // 8640 requests are exactly one machine-day
    assert.equal(localCapacity({ ...small, outputTokensPerSecond: 0.3 }, { requestsPerDay: 8640, inputTokens: 0, outputTokens: 3, cachedShare: 0 }, 30).machines, 1);
  });
});
