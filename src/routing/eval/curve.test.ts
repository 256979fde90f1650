import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { curveOf, metricsOf, randomCurve, type Outcome } from "./curve.js";

// q1 both right, q2 only the large, q3 neither, q4 only the large: acc_small 0.25, acc_large 0.75
const o = (s: boolean, l: boolean): Outcome => ({ smallRight: s, largeRight: l, smallUsd: 1, largeUsd: 10 });
const outcomes = [o(true, true), o(false, true), o(false, false), o(false, true)];
// the oracle's order: q2, q4 (only the large is right), then q1, q3 (ties in dataset order)
const oracle = [1, 2, 1, 2];

describe("the curve and RouteLLM's metrics, by hand", () => {
  it("the oracle: PGR 0, 0.5, 1, 1, 1 as 0..4 questions go to the large model", () => {
    const c = curveOf(outcomes, oracle, "router");
    assert.deepEqual(c.map((p) => p.pgr), [0, 0.5, 1, 1, 1]);
    assert.deepEqual(c.map((p) => p.accuracy), [0.25, 0.5, 0.75, 0.75, 0.75]);
    // a router pays the model it picks: k large calls at $10, the rest at $1
    assert.deepEqual(c.map((p) => p.usd), [4, 13, 22, 31, 40]);
    const m = metricsOf(outcomes, c);
    // trapezoids of width 0.25: (0+.5)/2 + (.5+1)/2 + 1 + 1, times 0.25
    assert.equal(m.apgr, 0.75);
    assert.equal(m.cpt50, 0.25);
    assert.equal(m.cpt80, 0.5);
    // 95% of 0.75 is 0.7125: first reached with 2 large calls, $22 of the $40 all-large
    assert.equal(m.costSavedAt95, 1 - 22 / 40);
    assert.equal(m.at95?.large, 2);
  });
  it("a cascade pays the small model on every question", () => {
    const c = curveOf(outcomes, oracle, "cascade");
    assert.deepEqual(c.map((p) => p.usd), [4, 14, 24, 34, 44]);
    assert.equal(metricsOf(outcomes, c).costSavedAt95, 1 - 24 / 40);
  });
  it("the random router: APGR 0.5, and 95% only at all-large", () => {
    const m = metricsOf(outcomes, randomCurve(outcomes, "router"));
    assert.equal(m.apgr, 0.5);
    assert.equal(m.cpt50, 0.5);
    // PGR 0.75 at 3 of 4 large calls: 80% needs all 4
    assert.equal(m.cpt80, 1);
    assert.equal(m.costSavedAt95, 0);
  });
  it("a policy that escalates the wrong questions first loses accuracy before it gains", () => {
    const worst = metricsOf(outcomes, curveOf(outcomes, [2, 0, 1, 0], "router"));
    // q1 (both right) then q3 (neither): PGR 0, 0, then q2, q4
    assert.deepEqual(worst.curve.map((p) => p.pgr), [0, 0, 0, 0.5, 1]);
    assert.equal(worst.apgr, 0.25);
    assert.equal(worst.cpt80, 1);
  });
});
