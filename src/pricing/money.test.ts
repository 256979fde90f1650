import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { add, ceil, cmp, div, money, mul, parseUsd, q, qToNumber, sub, usd, usdString } from "./money.js";

describe("money: exact decimals", () => {
  it("reads a number as the decimal it is written as", () => {
    assert.deepEqual(q(0.1), { n: 1n, d: 10n });
    assert.deepEqual(q(0.075), { n: 3n, d: 40n });
    assert.deepEqual(q(1e-7), { n: 1n, d: 10_000_000n });
    assert.deepEqual(q(1.5e21), { n: 1_500_000_000_000_000_000_000n, d: 1n });
    assert.deepEqual(q(-2.5), { n: -5n, d: 2n });
    assert.deepEqual(q(0), { n: 0n, d: 1n });
    assert.throws(() => q(Number.NaN), RangeError);
    assert.throws(() => q(Infinity), RangeError);
  });

  it("adds where floats do not: 0.1 + 0.2 is 0.3", () => {
    assert.notEqual(0.1 + 0.2, 0.3);
    assert.equal(usd(money(add(q(0.1), q(0.2)))), 0.3);
    assert.equal(cmp(sub(q(0.3), q(0.1)), q(0.2)), 0);
    assert.equal(usdString(money(mul(q(2875), div(q(1), q(1_000_000))))), "0.002875");
  });

  it("a million micro-dollars sum to exactly one dollar (floats drift)", () => {
    let float = 0;
    let exact = 0n;
    const micro = money(q(0.000001));
    for (let i = 0; i < 1_000_000; i++) {
      float += 0.000001;
      exact += micro;
    }
    assert.notEqual(float, 1, "the float sum drifts: the exact one must not");
    assert.equal(usd(exact), 1);
    assert.equal(usdString(exact), "1");
  });

  it("writes and reads back amounts exactly", () => {
    for (const s of ["0", "0.0025", "975", "-1.5", "0.000000000000000001", "123456789.123456789"]) assert.equal(usdString(parseUsd(s)), s);
    assert.equal(parseUsd("0.0025"), 2_500_000_000_000_000n);
    assert.throws(() => parseUsd("1e-6"), RangeError);
    assert.throws(() => parseUsd("0.0000000000000000001"), RangeError, "19 places are below an atto-dollar");
  });

  it("rounds a fraction with no finite decimal half to even at 1e-18", () => {
    assert.equal(usdString(money(div(q(1), q(3)))), "0.333333333333333333");
    assert.equal(usdString(money(div(q(2), q(3)))), "0.666666666666666667");
    // exactly half an atto-dollar: to the even neighbour, both ways
    assert.equal(money(q(5e-19)), 0n);
    assert.equal(money(q(1.5e-18)), 2n);
    assert.equal(money(q(-5e-19)), 0n);
    assert.equal(money(q(-1.5e-18)), -2n);
  });

  it("rounds up exactly: 2 is 2 machines, 2 and a bit is 3", () => {
    assert.equal(ceil(q(2)), 2n);
    assert.equal(ceil(div(q(6), q(3))), 2n);
    assert.equal(ceil(add(q(2), q(1e-15))), 3n);
    assert.equal(ceil(q(0.2)), 1n);
    assert.equal(ceil(q(0)), 0n);
    assert.equal(qToNumber(div(q(1), q(4))), 0.25);
  });
});
