import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SpecController, StepCosts } from "./controller.js";
import { NgramDrafter } from "./ngram-drafter.js";
import type { Drafter } from "./drafter.js";
import { Sequence } from "../engine/sequence.js";
import { verifyGreedy, verifySampled, type TargetPosition } from "./verify.js";

/** mulberry32: a seeded uniform [0, 1) source. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    let t = (a = (a + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Total variation distance between an empirical count and a distribution. */
function tv(counts: Map<number, number>, n: number, p: Map<number, number>): number {
  let d = 0;
  for (const t of new Set([...counts.keys(), ...p.keys()])) d += Math.abs((counts.get(t) ?? 0) / n - (p.get(t) ?? 0));
  return d / 2;
}

describe("verification", () => {
  it("greedy keeps the agreeing prefix and adds the target's own token", () => {
    const target = [5, 6, 9, 1].map((token) => ({ token }));
    assert.deepEqual(verifyGreedy([5, 6, 7], target), [5, 6, 9]);
    assert.deepEqual(verifyGreedy([5, 6, 9], target), [5, 6, 9, 1], "all accepted: the bonus token too");
    assert.deepEqual(verifyGreedy([4], target), [5]);
  });

  // p at two positions; a draft model q that disagrees with p
  const p0 = new Map([[1, 0.5], [2, 0.3], [3, 0.2]]);
  const p1 = new Map([[1, 0.1], [2, 0.1], [3, 0.8]]);
  const q0 = new Map([[1, 0.1], [2, 0.8], [3, 0.1]]);
  const N = 40_000;
  // with N samples, the TV distance of an unbiased sampler's empirical distribution to p is ~0.005
  const TOLERANCE = 0.015;

  function firstTokens(run: (r: () => number) => number[]): Map<number, number> {
    const r = rng(7);
    const counts = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const out = run(r);
      counts.set(out[0]!, (counts.get(out[0]!) ?? 0) + 1);
    }
    return counts;
  }

  /** A draft token drawn from q0, as a draft model does. */
  function drawQ(r: () => number): number {
    const x = r();
    return x < 0.1 ? 1 : x < 0.9 ? 2 : 3;
  }

  it("speculative sampling emits tokens distributed as p, for a draft model's q", () => {
    const dr = rng(3);
    const counts = firstTokens((r) => {
      const target: TargetPosition[] = [{ token: 0, probs: p0 }, { token: 3, probs: p1 }];
      return verifySampled([drawQ(dr)], [q0], target, r);
    });
    assert.ok(tv(counts, N, p0) < TOLERANCE, `TV ${tv(counts, N, p0)}`);
  });

  it("and for prompt lookup's one-hot q", () => {
    const counts = firstTokens((r) => verifySampled([2], [undefined], [{ token: 0, probs: p0 }, { token: 3, probs: p1 }], r));
    assert.ok(tv(counts, N, p0) < TOLERANCE, `TV ${tv(counts, N, p0)}`);
  });

  it("the check has teeth: accepting drafts without the p/q test is caught", () => {
    const dr = rng(3);
    const biased = firstTokens((r) => {
      const d = drawQ(dr);
      return r() < 0.9 ? [d] : verifySampled([d], [q0], [{ token: 0, probs: p0 }, { token: 3, probs: p1 }], r);
    });
    assert.ok(tv(biased, N, p0) > 5 * TOLERANCE, `TV ${tv(biased, N, p0)}`);
  });
});

describe("prompt lookup drafter", () => {
  it("proposes what followed the latest earlier occurrence of the last n-gram", async () => {
    const d = new NgramDrafter({ maxN: 3, minN: 2 });
    const tokens = [1, 2, 3, 4, 5, 9, 9, 2, 3];
    const out = await d.propose([{ id: 1, tokens, k: 3, temperature: 0 }]);
    assert.deepEqual(out.get(1)?.tokens, [4, 5, 9]);
    // growing the sequence keeps the index current; a longer match wins
    const grown = [...tokens, 4, 7, 1, 2, 3, 4];
    const again = await d.propose([{ id: 1, tokens: grown, k: 2, temperature: 0 }]);
    assert.deepEqual(again.get(1)?.tokens, [7, 1], "2 3 4 last occurred before 7");
    const none = await d.propose([{ id: 2, tokens: [1, 2, 3, 4], k: 2, temperature: 0 }]);
    assert.equal(none.has(2), false, "no repeated n-gram: no guess");
  });

  it("in a repeating run, proposes k tokens from the first occurrence, not 1 from the latest", async () => {
    const d = new NgramDrafter({ maxN: 3, minN: 2 });
    const out = await d.propose([{ id: 1, tokens: [5, 6, 7, 7, 7, 7, 7, 7], k: 3, temperature: 0 }]);
    assert.deepEqual(out.get(1)?.tokens, [7, 7, 7]);
  });
});

/** A drafter that always guesses k tokens (all 7s). */
const always: Drafter = {
  name: "always",
  async propose(rs) {
    return new Map(rs.map((r) => [r.id, { tokens: Array.from({ length: r.k }, () => 7) }]));
  },
  accepted() {},
  release() {},
  async dispose() {},
};

/** A speculating greedy sequence with a long budget. */
function specSeq(id: number): Sequence {
  const s = new Sequence(id, [1, 2, 3], { temperature: 0 } as Sequence["sampler"], 10_000, 0, true, 0);
  s.speculative = true;
  return s;
}

describe("adaptive k", () => {
  const table = (f: (n: number) => number) => {
    const c = new StepCosts();
    for (const n of [1, 2, 4, 8, 16, 32]) c.record(n, f(n));
    return c;
  };
  // verification nearly free (a GPU, or a big model's memory-bound decode) vs. as costly as decoding
  const cheap = table((n) => 10 + 0.5 * (n - 1));
  const linear = table((n) => 10 * n);

  it("speculates far when positions are cheap and guesses good, not at all when they are bad", () => {
    assert.equal(SpecController.kFor(0.95, 1, 8, cheap), 8);
    assert.ok(SpecController.kFor(0.6, 1, 8, cheap) >= 2);
    assert.equal(SpecController.kFor(0.02, 1, 8, cheap), 0);
  });

  it("never speculates where a verified position costs a whole decode", () => {
    assert.equal(SpecController.kFor(0.95, 1, 8, linear), 0);
  });

  it("waits for a measured decode step before guessing what speculation costs", () => {
    assert.equal(SpecController.kFor(0.95, 1, 8, new StepCosts()), 0);
    const c = new StepCosts();
    c.record(1, 10);
    c.record(33, 40);
    assert.equal(c.cost(17), 25, "interpolated between measured sizes");
    assert.equal(c.cost(66), 80, "past the largest: per token as costly as there");
  });

  it("speculation stops where it has really yielded fewer tokens per ms than plain decoding, and is tried again later", async () => {
    const c = new SpecController(always, 4, cheap);
    const seq = specSeq(1);
    await c.draft([seq]);
    assert.ok(seq.draft.length > 0, "the cost model alone says speculate");
    // measured: plain steps yield 1 token in 10 ms, speculative ones 2 tokens in 40 ms
    for (let i = 0; i < 5; i++) {
      c.observe(false, 1, 1, 10);
      c.observe(true, 1, 2, 40);
    }
    await c.draft([seq]);
    assert.equal(seq.draft.length, 0, "vetoed by what it really yielded");
    let steps = 0;
    while (seq.draft.length === 0 && steps < 1000) {
      c.observe(false, 1, 1, 10);
      await c.draft([seq]);
      steps++;
    }
    assert.ok(steps > 10 && steps < 1000, `tried again after ${steps} plain steps`);
  });

  it("after guesses kept failing, a new request probes small, and speculates fully once its own guesses hold", async () => {
    const c = new SpecController(always, 8, cheap);
    // an earlier request whose guesses all failed
    const bad = specSeq(1);
    for (let i = 0; i < 30; i++) {
      await c.draft([bad]);
      if (bad.draft.length > 0) bad.lastDraft = { proposed: bad.draft.length, accepted: 0 };
    }
    c.release(bad);
    const next = specSeq(2);
    await c.draft([next]);
    assert.equal(next.draft.length, 2, "a small probe");
    next.lastDraft = { proposed: 2, accepted: 2 };
    await c.draft([next]);
    assert.equal(next.draft.length, 8, "its own guesses held: full k");
  });

  it("a step size costs what its best thread count measured, not the tuner's slow tries", () => {
    const c = new StepCosts();
    c.record(1, 0.5, 1);
    c.record(3, 15.6, 2); // the tuner trying 2 threads on a tiny model
    assert.equal(c.cost(3), 15.6);
    c.record(3, 0.7, 1);
    assert.equal(c.cost(3), 0.7);
    assert.equal(SpecController.kFor(0.95, 1, 2, c), 2);
  });
});
