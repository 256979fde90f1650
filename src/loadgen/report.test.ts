import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RequestResult } from "./client.js";
import { computeMetrics, formatReport, parseGoodput, percentile, summarize } from "./report.js";
import { isInferdError } from "../util/errors.js";

const ok = (ttftMs: number, e2elMs: number, outputTokens: number, itlMs: number[], promptTokens = 10): RequestResult => ({
  ok: true, ttftMs, e2elMs, outputTokens, itlMs, promptTokens, generatedText: "x",
  tpotMs: outputTokens > 1 ? (e2elMs - ttftMs) / (outputTokens - 1) : 0,
});
const failed = (error: string): RequestResult => ({ ok: false, error, ttftMs: 0, e2elMs: 0, outputTokens: 0, itlMs: [], tpotMs: 0, generatedText: "" });

describe("report", () => {
  test("percentile interpolates linearly between ranks, like numpy", () => {
    assert.equal(percentile([3, 1, 2, 4], 50), 2.5); // numpy.percentile([1,2,3,4], 50)
    assert.equal(percentile([1, 2, 3, 4], 0), 1);
    assert.equal(percentile([1, 2, 3, 4], 100), 4);
    assert.ok(Math.abs(percentile([1, 2, 3, 4], 99) - 3.97) < 1e-12); // rank 2.97
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.ok(Math.abs(percentile(hundred, 99) - 99.01) < 1e-9);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  test("summarize: mean, median, p99, population sd; zeros when empty", () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(s.mean, 5);
    assert.equal(s.median, 4.5);
    assert.equal(s.std, 2);
    assert.ok(Math.abs(s.p99 - 8.86) < 1e-9);
    assert.deepEqual(summarize([]), { mean: 0, median: 0, p99: 0, std: 0 });
  });

  test("metrics over successes only; throughputs per second; tpot skips one-token requests; itl pooled", () => {
    const results = [ok(100, 1100, 11, [100, 100]), ok(300, 300, 1, [], 20), failed("HTTP 500: boom"), failed("HTTP 500: boom"), failed("timeout")];
    const m = computeMetrics(results, 2000);
    assert.equal(m.completed, 2);
    assert.equal(m.failed, 3);
    assert.equal(m.durationS, 2);
    assert.equal(m.totalInputTokens, 30);
    assert.equal(m.totalOutputTokens, 12);
    assert.equal(m.requestThroughput, 1);
    assert.equal(m.outputThroughput, 6);
    assert.equal(m.totalTokenThroughput, 21);
    assert.equal(m.ttft.mean, 200);
    assert.equal(m.tpot.mean, 100); // only the 11-token request: (1100-100)/10
    assert.deepEqual([m.itl.mean, m.itl.median], [100, 100]);
    assert.equal(m.e2el.median, 700);
    assert.equal(m.requestGoodput, undefined);
    assert.deepEqual(m.errors, [{ error: "HTTP 500: boom", count: 2 }, { error: "timeout", count: 1 }]);
  });

  test("goodput counts requests meeting every SLO", () => {
    const results = [ok(100, 1100, 11, []), ok(300, 500, 3, []), ok(50, 5000, 2, []), failed("x")];
    // tpots: 100, 100, 4950
    assert.equal(computeMetrics(results, 1000, { ttftMs: 200 }).requestGoodput, 2);
    assert.equal(computeMetrics(results, 1000, { ttftMs: 200, tpotMs: 150 }).requestGoodput, 1);
    assert.equal(computeMetrics(results, 1000, { e2elMs: 500 }).requestGoodput, 1); // <= is good
    assert.equal(computeMetrics(results, 2000, { tpotMs: 1000 }).requestGoodput, 1);
  });

  test("parseGoodput accepts repeated and comma-separated SLOs, rejects anything else in one line", () => {
    assert.equal(parseGoodput([]), undefined);
    assert.deepEqual(parseGoodput(["ttft:500", "tpot:50,e2el:2000"]), { ttftMs: 500, tpotMs: 50, e2elMs: 2000 });
    for (const bad of ["ttft", "ttft:", "ttft:0", "ttft:-1", "itl:5", "ttft:abc", "ttft:5ms"]) {
      assert.throws(() => parseGoodput([bad]), (e) => isInferdError(e, "invalid_argument") && e.message.includes("--goodput") && !e.message.includes("\n"), bad);
    }
  });

  test("the table has vLLM's rows and sections", () => {
    const m = computeMetrics([ok(100, 1100, 11, [100]), failed("HTTP 500: boom")], 2000, { ttftMs: 200 });
    const t = formatReport(m, { requestRate: Infinity, maxConcurrency: 4 });
    const lines = t.split("\n");
    assert.equal(lines[0], "============ Serving Benchmark Result ============");
    assert.ok(lines.includes(`${"Successful requests:".padEnd(40)} 1`));
    assert.ok(lines.includes(`${"Benchmark duration (s):".padEnd(40)} 2.00`));
    assert.ok(lines.includes(`${"Request goodput (req/s):".padEnd(40)} 0.50`));
    assert.ok(lines.includes(`${"Maximum request concurrency:".padEnd(40)} 4`));
    assert.ok(lines.includes(`${"Request rate configured (RPS):".padEnd(40)} inf`));
    assert.ok(lines.includes(`${"Mean TPOT (ms):".padEnd(40)} 100.00`));
    for (const k of ["TTFT", "TPOT", "ITL", "E2EL"]) for (const s of ["Mean", "Median", "P99"]) assert.ok(t.includes(`${s} ${k} (ms):`), `${s} ${k}`);
    assert.ok(lines.includes("---------------Time to First Token----------------"));
    assert.ok(t.includes("failed x1: HTTP 500: boom"));
    assert.ok(lines.filter((l) => l.startsWith("=") || l.startsWith("-")).every((l) => l.length === 50));
    assert.ok(!formatReport(computeMetrics([], 1000), { requestRate: 2, maxConcurrency: Infinity }).includes("concurrency"));
  });
});
