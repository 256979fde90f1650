import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SamplerConfig } from "../backend/backend.js";
import { isInferdError } from "../util/errors.js";
import { Scheduler, type SchedulerConfig, type SchedulerOutput } from "./scheduler.js";
import { MAX_PREFILL_SKIPS } from "./prefill-order.js";

const SAMPLER: SamplerConfig = {
  temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0,
  frequencyPenalty: 0, penaltyWindow: 64, logitBias: new Map(), seed: 1, logprobs: undefined,
};
const EOG = 2;

function make(over: Partial<SchedulerConfig> = {}): Scheduler {
  let t = 0;
  return new Scheduler(
    { maxRunning: 4, maxBatchTokens: 16, maxWaiting: 8, cellsPerSequence: 64, slots: 4, ...over },
    (tok) => tok === EOG,
    () => t++,
  );
}

/** Fake backend: every sample is token 7 (never EOG). */
function step(s: Scheduler, token = 7): SchedulerOutput {
  const plan = s.schedule();
  s.update(plan, plan.items.map((it) => (it.sample ? { token } : undefined)));
  return plan;
}

const prompt = (n: number, base = 10) => Array.from({ length: n }, (_, i) => base + i);
const tokensOf = (plan: SchedulerOutput) => plan.items.reduce((n, it) => n + it.tokens.length, 0);

describe("Scheduler", () => {
  it("chunks a long prefill within the per-step token budget", () => {
    const s = make();
    const seq = s.submit(prompt(40), SAMPLER, { maxTokens: 5 });
    const sizes: number[] = [];
    while (seq.outputLength === 0) {
      const plan = step(s);
      assert.ok(tokensOf(plan) <= 16);
      sizes.push(plan.items[0]!.tokens.length);
    }
    assert.deepEqual(sizes, [16, 16, 8]);
    // positions continue where the last chunk ended
    assert.equal(seq.computed, 40);
  });

  it("gives the step's prompt budget to the shortest remaining prompt first, without starving the oldest", () => {
    const s = make({ maxBatchTokens: 16 });
    const long = s.submit(prompt(60), SAMPLER, { maxTokens: 1 });
    step(s); // the long prompt alone: 16 of its tokens
    assert.equal(long.computed, 16);
    const short = s.submit(prompt(10, 200), SAMPLER, { maxTokens: 1 });
    const plan = step(s);
    // the short prompt arrived later but needs less: it is computed whole this step
    assert.deepEqual(plan.sequences.map((q) => q.id), [short.id, long.id]);
    assert.equal(short.outputLength, 1);
    assert.equal(long.computed, 16 + 6);
    // a stream of prompts shorter than what it has left, each taking a whole step, would
    // starve it; it goes first after MAX_PREFILL_SKIPS steps without a chunk
    let skipped = 0;
    for (let i = 0; long.outputLength === 0 && i < 40; i++) {
      s.submit(prompt(16, 300 + i), SAMPLER, { maxTokens: 1 });
      const p = step(s);
      if (p.sequences.includes(long)) {
        assert.ok(skipped === 0 || skipped === MAX_PREFILL_SKIPS, `went first after ${skipped} skips`);
        skipped = 0;
      } else skipped++;
    }
    assert.equal(long.outputLength, 1, "the long prompt finished");
  });

  it("stops adding prompt chunks at the step's target size, but never splits a prompt that fits the budget", () => {
    const s = make({ maxBatchTokens: 32, stepTargetTokens: 16 });
    const long = s.submit(prompt(60), SAMPLER, { maxTokens: 1 });
    let plan = step(s);
    assert.equal(tokensOf(plan), 16, "a long prompt goes in target-sized chunks");
    const a = s.submit(prompt(20, 200), SAMPLER, { maxTokens: 1 });
    const b = s.submit(prompt(20, 300), SAMPLER, { maxTokens: 1 });
    plan = step(s);
    // a's 20 tokens fit the budget: whole, past the target; b and the long prompt wait
    assert.deepEqual(plan.sequences.map((q) => q.id), [a.id]);
    assert.equal(a.outputLength, 1);
    plan = step(s);
    assert.deepEqual(plan.sequences.map((q) => q.id), [b.id]);
    assert.equal(long.computed, 16);
  });

  it("never starves decoding sequences when a long prompt arrives", () => {
    const s = make({ maxBatchTokens: 8 });
    const a = s.submit(prompt(3), SAMPLER, { maxTokens: 100 });
    const b = s.submit(prompt(3, 50), SAMPLER, { maxTokens: 100 });
    step(s);
    assert.equal(a.outputLength, 1);
    assert.equal(b.outputLength, 1);
    const long = s.submit(prompt(60, 100), SAMPLER, { maxTokens: 5 });
    for (let i = 0; i < 10; i++) {
      const before: number[] = [a.outputLength, b.outputLength];
      const plan = step(s);
      assert.ok(tokensOf(plan) <= 8);
      assert.deepEqual([a.outputLength, b.outputLength], [before[0]! + 1, before[1]! + 1], "each decode stream advances every step");
      const longItem = plan.items.find((_, j) => plan.sequences[j] === long);
      assert.equal(longItem?.tokens.length, 6, "prefill takes what the decodes leave");
    }
  });

  it("plans plain data: slots, positions and sampling flags", () => {
    const s = make();
    s.submit([1, 2, 3], SAMPLER, { maxTokens: 2 });
    const plan = s.schedule();
    assert.deepEqual(plan.items, [{ seq: 0, firstPos: 0, tokens: [1, 2, 3], sample: true }]);
    assert.deepEqual(plan.open.map((o) => o.seq), [0]);
    s.update(plan, [{ token: 9 }]);
    assert.deepEqual(s.schedule().items, [{ seq: 0, firstPos: 3, tokens: [9], sample: true }]);
  });

  it("admits by priority, FIFO within a priority", () => {
    const s = make({ maxRunning: 1, slots: 1 });
    const first = s.submit(prompt(2), SAMPLER, { maxTokens: 3 });
    const order: number[] = [first.id];
    step(s); // `first` is running before the others arrive
    const low = s.submit(prompt(2), SAMPLER, { maxTokens: 1, priority: 0 });
    const high1 = s.submit(prompt(2), SAMPLER, { maxTokens: 1, priority: 5 });
    const high2 = s.submit(prompt(2), SAMPLER, { maxTokens: 1, priority: 5 });
    for (let i = 0; i < 12 && s.hasWork(); i++) {
      const plan = step(s);
      for (const q of plan.sequences) if (!order.includes(q.id)) order.push(q.id);
    }
    // `first` was admitted at once; then higher priority first, FIFO among equals
    assert.deepEqual(order, [first.id, high1.id, high2.id, low.id]);
  });

  it("rejects at once when more requests would wait than maxWaiting, with a retry-after hint", () => {
    // 4 running slots are free: a burst of 4 + 2 is taken, the 7th would be a third to wait
    const s = make({ maxWaiting: 2 });
    for (let i = 0; i < 6; i++) s.submit(prompt(2), SAMPLER, { maxTokens: 1 });
    assert.throws(
      () => s.submit(prompt(2), SAMPLER, { maxTokens: 1 }),
      (e) => isInferdError(e, "overloaded") && (e.details.retryAfterSeconds ?? 0) >= 1,
    );
  });

  it("maxWaiting counts only requests that wait for capacity: 0 admits a burst as large as the free slots", () => {
    const s = make({ maxWaiting: 0 });
    for (let i = 0; i < 4; i++) s.submit(prompt(2), SAMPLER, { maxTokens: 8 });
    assert.throws(() => s.submit(prompt(2), SAMPLER, { maxTokens: 8 }), (e) => isInferdError(e, "overloaded"));
    step(s); // all 4 run now: none waits
    assert.equal(s.runningCount, 4);
    assert.throws(() => s.submit(prompt(2), SAMPLER, { maxTokens: 8 }), (e) => isInferdError(e, "overloaded"));
    assert.throws(() => s.checkCapacity(1));
  });

  it("checkCapacity takes a request's n choices all or none", () => {
    const s = make({ maxWaiting: 1 });
    s.checkCapacity(5); // 4 free slots + 1 waiting
    assert.throws(() => s.checkCapacity(6), (e) => isInferdError(e, "overloaded"));
    s.submit(prompt(2), SAMPLER, { maxTokens: 8 });
    assert.throws(() => s.checkCapacity(5), (e) => isInferdError(e, "overloaded"));
  });

  it("rejects a prompt longer than the context, naming both numbers", () => {
    const s = make({ cellsPerSequence: 10 });
    assert.throws(() => s.submit(prompt(11), SAMPLER, { maxTokens: 1 }), /11 tokens.*10 tokens/);
  });

  it("frees a cancelled sequence's KV before the next step and admits a waiting one", () => {
    const s = make({ maxRunning: 1, slots: 1 });
    const a = s.submit(prompt(4), SAMPLER, { maxTokens: 50 });
    const b = s.submit(prompt(4, 70), SAMPLER, { maxTokens: 50 });
    step(s);
    step(s);
    assert.equal(b.status, "waiting");
    s.finish(a, "abort");
    const plan = step(s);
    assert.deepEqual(plan.kv, [{ type: "close", seq: 0 }], "the aborted sequence's slot is freed first");
    assert.deepEqual(plan.open.map((o) => o.seq), [0]);
    assert.equal(plan.sequences[0], b);
    assert.equal(a.finishReason, "abort");
  });

  it("preempts the newest running sequence when KV runs out, and resumes it later", () => {
    // a shared pool of 24 cells: two sequences of 10 prompt tokens fit, their growth does not
    const s = make({ totalCells: 24, cellsPerSequence: 20, maxBatchTokens: 32 });
    const old = s.submit(prompt(10), SAMPLER, { maxTokens: 8 });
    const young = s.submit(prompt(10, 40), SAMPLER, { maxTokens: 8 });
    step(s);
    assert.equal(s.runningCount, 2);
    let preempted = false;
    for (let i = 0; i < 30 && s.hasWork(); i++) {
      step(s);
      if (young.status === "waiting") preempted = true;
    }
    assert.ok(preempted, "the newest sequence was preempted");
    assert.equal(young.preemptions > 0, true);
    assert.equal(old.preemptions, 0, "the oldest keeps running");
    assert.equal(old.finishReason, "length");
    assert.equal(young.finishReason, "length", "the preempted sequence was recomputed and finished");
    assert.equal(young.outputLength, 8);
  });

  it("finishes at EOG, at max tokens and at the context end", () => {
    const s = make({ cellsPerSequence: 6 });
    const eog = s.submit(prompt(2), SAMPLER, { maxTokens: 10 });
    let plan = s.schedule();
    s.update(plan, [{ token: EOG }]);
    assert.equal(eog.finishReason, "stop");
    const ctx = s.submit(prompt(4), SAMPLER, { maxTokens: 10 });
    while (s.hasWork()) step(s);
    assert.equal(ctx.finishReason, "length");
    assert.equal(ctx.tokens.length, 6);
    const max = s.submit(prompt(2), SAMPLER, { maxTokens: 3 });
    while (s.hasWork()) step(s);
    assert.equal(max.outputLength, 3);
    plan = s.schedule();
    assert.equal(plan.items.length, 0);
  });
});
