import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveParams } from "./params.js";
import { MAX_PREFILL_SKIPS, prefillOrder } from "./prefill-order.js";
import { Sequence } from "./sequence.js";

const SAMPLER = resolveParams({ temperature: 0, seed: 1 }).sampler;

/** A running sequence with `remaining` prompt tokens left, arrived at `arrival`. */
function seq(id: number, remaining: number, arrival: number, priority = 0): Sequence {
  const s = new Sequence(id, Array.from({ length: 100 }, (_, i) => i), SAMPLER, 8, priority, true, arrival);
  s.computed = 100 - remaining;
  return s;
}

describe("prefillOrder", () => {
  it("shortest remaining prompt first, ties by arrival; decoders' and restoring sequences left out", () => {
    const a = seq(1, 80, 0), b = seq(2, 10, 1), c = seq(3, 10, 2), done = seq(4, 0, 3), restoring = seq(5, 5, 4);
    restoring.restoring = true;
    assert.deepEqual(prefillOrder([a, b, c, done, restoring]).map((s) => s.id), [2, 3, 1]);
  });

  it("higher priority first, whatever its length", () => {
    assert.deepEqual(prefillOrder([seq(1, 10, 0), seq(2, 90, 1, 5)]).map((s) => s.id), [2, 1]);
  });

  it("the oldest goes first once it has been skipped enough steps, and only the oldest", () => {
    const old = seq(1, 90, 0), starvedToo = seq(2, 80, 1), short = seq(3, 5, 2);
    old.prefillSkips = MAX_PREFILL_SKIPS - 1;
    starvedToo.prefillSkips = MAX_PREFILL_SKIPS;
    assert.deepEqual(prefillOrder([old, starvedToo, short]).map((s) => s.id), [3, 2, 1]);
    old.prefillSkips = MAX_PREFILL_SKIPS;
    assert.deepEqual(prefillOrder([old, starvedToo, short]).map((s) => s.id), [1, 3, 2]);
  });
});
