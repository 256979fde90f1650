import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { arrivalOffsets, Semaphore, waitUntil } from "./arrivals.js";
import { mulberry32 } from "./rng.js";

describe("arrivals", () => {
  test("Poisson: mean gap within 3% of 1/R, exponential shape (sd = mean, P(gap < mean) = 1 - 1/e)", () => {
    const rate = 4; // req/s: mean gap 250 ms
    const n = 20_000;
    const t = arrivalOffsets(mulberry32(123), n, rate);
    assert.equal(t[0], 0);
    const gaps = t.slice(1).map((x, i) => x - t[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    // the mean of 20k exponential gaps has a relative sd of 1/sqrt(20k) = 0.7%: 3% is over 4 sd
    assert.ok(Math.abs(mean - 250) / 250 < 0.03, `mean gap ${mean} ms`);
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    assert.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean}`);
    const below = gaps.filter((g) => g < 250).length / gaps.length;
    assert.ok(Math.abs(below - (1 - Math.exp(-1))) < 0.02, `P(gap < mean) = ${below}`);
    assert.ok(gaps.every((g) => g >= 0 && Number.isFinite(g)));
  });

  test("same seed, same schedule; an infinite rate sends everything at 0", () => {
    assert.deepEqual(arrivalOffsets(mulberry32(5), 50, 10), arrivalOffsets(mulberry32(5), 50, 10));
    assert.notDeepEqual(arrivalOffsets(mulberry32(5), 50, 10), arrivalOffsets(mulberry32(6), 50, 10));
    assert.deepEqual(arrivalOffsets(mulberry32(5), 4, Infinity), [0, 0, 0, 0]);
  });

  test("waitUntil waits for an absolute offset and not at all for a past one", async () => {
    const start = performance.now();
    await waitUntil(start, 30);
    assert.ok(performance.now() - start >= 29);
    const t = performance.now();
    await waitUntil(start, 0);
    assert.ok(performance.now() - t < 20);
  });

  test("Semaphore caps holders at its limit and serves waiters in order", async () => {
    const sem = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        sem.run(async () => {
          order.push(i);
          active++;
          peak = Math.max(peak, active);
          assert.ok(sem.inFlight <= 3);
          await new Promise((r) => setTimeout(r, 5 + (i % 3) * 3));
          active--;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(sem.inFlight, 0);
  });

  test("Semaphore releases its slot when the task throws; Infinity never waits", async () => {
    const sem = new Semaphore(1);
    await assert.rejects(sem.run(async () => { throw new Error("x"); }), /x/);
    assert.equal(sem.inFlight, 0);
    const free = new Semaphore(Infinity);
    await Promise.all(Array.from({ length: 100 }, () => free.acquire()));
    assert.equal(free.inFlight, 100);
  });
});
