import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ThreadTuner } from "./thread-tuner.js";

/** A fake machine: decode (1 token) is fastest on 1 thread, prefill (512) on 2. */
function cost(tokens: number, threads: number): number {
  return tokens === 1 ? (threads === 1 ? 15 : 23) : tokens * (threads === 1 ? 5 : 2.8);
}

function drive(t: ThreadTuner, tokens: number, steps: number): number[] {
  const used: number[] = [];
  for (let i = 0; i < steps; i++) {
    const th = t.choose(tokens);
    used.push(th);
    t.record(tokens, th, cost(tokens, th));
  }
  return used;
}

describe("ThreadTuner", () => {
  it("tries every thread count, then keeps the fastest per batch size", () => {
    const t = new ThreadTuner(2, 3);
    const decode = drive(t, 1, 20);
    // 2 threads first (23 ms), then 1 (15 ms); 2 is clearly slower twice, then not tried again
    assert.deepEqual(decode.slice(0, 4), [2, 1, 2, 1]);
    assert.ok(decode.slice(4).every((x) => x === 1), "decode settles on 1 thread");
    const prefill = drive(t, 512, 20);
    // 1 thread first (decode's best), 5 ms/token, then 2 (2.8): 1 is clearly slower on its second try
    assert.deepEqual(prefill.slice(0, 5), [1, 2, 2, 2, 1]);
    assert.ok(prefill.slice(5).every((x) => x === 2), "prefill settles on 2 threads");
    assert.equal(t.choose(1), 1, "buckets are independent");
  });

  it("a new batch size starts with the best count of the nearest one measured", () => {
    const t = new ThreadTuner(2, 3);
    drive(t, 1, 10); // 1 thread is best for single tokens
    assert.equal(t.choose(3), 1, "a 3-token step first tries 1 thread, not 2");
    const fresh = new ThreadTuner(2, 3);
    assert.equal(fresh.choose(3), 2, "with nothing measured, the most threads first");
  });

  it("measures again after a while, following a change", () => {
    const t = new ThreadTuner(2, 1, 10);
    drive(t, 1, 5);
    assert.equal(t.choose(1), 1);
    // the machine changes: 2 threads become faster
    for (let i = 0; i < 40; i++) {
      const th = t.choose(1);
      t.record(1, th, th === 2 ? 5 : 15);
    }
    assert.equal(t.choose(1), 2);
  });

  it("always answers 1 with one CPU", () => {
    const t = new ThreadTuner(1);
    assert.equal(t.choose(100), 1);
  });
});
