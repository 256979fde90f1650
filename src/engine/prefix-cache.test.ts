/**
 * The scheduler's automatic prefix caching with a fake backend: what it reuses, from where,
 * what KV work it asks for, and when it waits. Real-model equality is in test/prefix-cache.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SamplerConfig } from "../backend/backend.js";
import type { KvOp, PrefixTier, StoredPrefix } from "./kv-ops.js";
import { commonPrefix, PrefixIndex } from "./prefix-index.js";
import { Scheduler, type SchedulerConfig, type SchedulerOutput } from "./scheduler.js";

const SAMPLER: SamplerConfig = {
  temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0,
  frequencyPenalty: 0, penaltyWindow: 64, logitBias: new Map(), seed: 1, logprobs: undefined,
};

function make(over: Partial<SchedulerConfig> = {}): Scheduler {
  let t = 0;
  return new Scheduler(
    { maxRunning: 2, maxBatchTokens: 64, maxWaiting: 16, cellsPerSequence: 256, slots: 4, prefixCache: true, ...over },
    () => false,
    () => t++,
  );
}

function step(s: Scheduler): SchedulerOutput {
  const plan = s.schedule();
  s.update(plan, plan.items.map((it) => (it.sample ? { token: 7 } : undefined)));
  return plan;
}

function run(s: Scheduler, max = 200): { computed: number; ops: KvOp[] } {
  let computed = 0;
  const ops: KvOp[] = [];
  for (let i = 0; i < max && s.hasWork(); i++) {
    const plan = step(s);
    ops.push(...plan.kv);
    computed += plan.items.reduce((n, it) => n + it.tokens.length, 0);
  }
  return { computed, ops };
}

const seqOf = (n: number, base = 100) => Array.from({ length: n }, (_, i) => base + i);

describe("prefix caching in the scheduler", () => {
  it("a finished request's KV stays; the same prompt takes the slot over and computes one token", () => {
    const s = make();
    s.submit(seqOf(40), SAMPLER, { maxTokens: 3 });
    const first = run(s);
    assert.equal(first.computed, 40 + 2);
    assert.ok(first.ops.some((o) => o.type === "retain"), "KV kept, sampler freed");
    assert.ok(!first.ops.some((o) => o.type === "close"));
    const b = s.submit(seqOf(40), SAMPLER, { maxTokens: 1 });
    const plan = s.schedule();
    assert.deepEqual(plan.kv, [{ type: "truncate", seq: b.slot, from: 39 }]);
    assert.deepEqual(plan.items.map((it) => [it.firstPos, it.tokens.length]), [[39, 1]], "the last prompt token is recomputed for its logits");
    assert.equal(b.cachedTokens, 39);
    assert.deepEqual(s.prefixStats, { queries: 80, hits: 39 });
  });

  it("hits end anywhere: mid-block, one token, none", () => {
    // one slot: the new request takes the cached prefix over when it shares at least half of it
    for (const [resident, shared] of [[40, 21], [2, 1], [40, 0]]) {
      const s = make({ slots: 1, maxRunning: 1 });
      s.submit(seqOf(resident!), SAMPLER, { maxTokens: 1 });
      run(s);
      const b = s.submit([...seqOf(shared), ...seqOf(30, 900)], SAMPLER, { maxTokens: 1 });
      const plan = s.schedule();
      assert.equal(b.cachedTokens, shared, `shared ${shared}`);
      assert.equal(plan.items[0]!.firstPos, shared);
    }
    {
      // ... but a short match of a long prefix is not worth destroying it for
      const s = make({ slots: 1, maxRunning: 1 });
      s.submit(seqOf(40), SAMPLER, { maxTokens: 1 });
      run(s);
      const b = s.submit([...seqOf(5), ...seqOf(30, 900)], SAMPLER, { maxTokens: 1 });
      s.schedule();
      assert.equal(b.cachedTokens, 0);
    }
    // with a free slot, a short match copies (keeping the cached prefix whole) or starts afresh
    for (const [shared, expect, op] of [[21, 21, "copy"], [1, 0, undefined]] as const) {
      const s = make();
      s.submit(seqOf(60), SAMPLER, { maxTokens: 1 });
      run(s);
      const b = s.submit([...seqOf(shared), ...seqOf(30, 900)], SAMPLER, { maxTokens: 1 });
      const plan = s.schedule();
      assert.equal(b.cachedTokens, expect, `shared ${shared}`);
      assert.equal(plan.kv[0]?.type, op);
    }
  });

  it("copies from a running sequence, and waits instead of computing a prefix twice", () => {
    const s = make({ maxBatchTokens: 16 });
    const a = s.submit(seqOf(48), SAMPLER, { maxTokens: 5 });
    step(s); // a has 16 of 48 computed
    const aSlot = a.slot;
    const b = s.submit([...seqOf(48), 1, 2, 3], SAMPLER, { maxTokens: 2 });
    step(s);
    assert.equal(b.status, "waiting", "b waits while a computes the shared 48 tokens");
    const { computed, ops } = run(s);
    const copy = ops.find((o) => o.type === "copy");
    assert.ok(copy?.type === "copy" && copy.from === aSlot && copy.to !== aSlot, JSON.stringify(copy));
    assert.equal(b.cachedTokens, 48);
    // after the two steps above: a's last 16 prompt tokens + 4 decodes; b: its 3 own tokens + 1 decode
    assert.equal(computed, 16 + 4 + 3 + 1);
  });

  it("evicts the least recently used prefix when a slot is needed, clearing (and offering to save) it", () => {
    const saved: number[][] = [];
    const tier: PrefixTier = { longest: () => undefined, worthRestoring: () => true, worthSaving: (t) => (saved.push([...t]), true) };
    const s = make({ slots: 2, maxRunning: 1, tier });
    s.submit(seqOf(20, 100), SAMPLER, { maxTokens: 1 });
    run(s);
    s.submit(seqOf(20, 300), SAMPLER, { maxTokens: 1 });
    run(s); // both slots now cached
    s.submit(seqOf(20, 500), SAMPLER, { maxTokens: 1 });
    const plan = s.schedule();
    assert.deepEqual(saved, [seqOf(20, 100)], "the oldest prefix is the one evicted");
    const save = plan.kv.find((o) => o.type === "save");
    assert.ok(save?.type === "save");
    const victim = save.seq;
    assert.deepEqual(plan.kv.filter((o) => "seq" in o && o.seq === victim).map((o) => o.type), ["save", "truncate"]);
  });

  it("prefers a waiting request whose prefix is resident, but never passes the oldest over for long", () => {
    const s = make({ maxRunning: 1, slots: 3 });
    s.submit(seqOf(30, 100), SAMPLER, { maxTokens: 1 });
    run(s);
    const blocker = s.submit(seqOf(5, 700), SAMPLER, { maxTokens: 3 });
    step(s);
    const cold = s.submit(seqOf(30, 200), SAMPLER, { maxTokens: 1 });
    const warm = s.submit(seqOf(30, 100), SAMPLER, { maxTokens: 1 });
    const order: number[] = [];
    for (let i = 0; i < 40 && s.hasWork(); i++) {
      const plan = step(s);
      for (const q of plan.sequences) if (q !== blocker && !order.includes(q.id)) order.push(q.id);
    }
    assert.deepEqual(order, [warm.id, cold.id]);
    const t = make({ maxRunning: 1, slots: 2 });
    t.submit(seqOf(30, 100), SAMPLER, { maxTokens: 1 });
    run(t);
    const old = t.submit(seqOf(30, 200), SAMPLER, { maxTokens: 1 });
    old.passedOver = 4;
    t.submit(seqOf(30, 100), SAMPLER, { maxTokens: 1 });
    t.schedule();
    assert.equal(old.status, "running", "passed over 4 times: admitted first now");
  });

  it("restores a saved prefix before scheduling its tokens, and recomputes when the restore fails", () => {
    const stored: StoredPrefix = { tokens: seqOf(40), file: "x.state", lastUsed: 0 };
    const index = new PrefixIndex<StoredPrefix>();
    index.add(stored);
    const tier: PrefixTier = { longest: (t) => index.longest(t), worthRestoring: () => true, worthSaving: () => false };
    for (const ok of [true, false]) {
      const s = make({ tier });
      const seq = s.submit([...seqOf(40), 5], SAMPLER, { maxTokens: 1 });
      const plan = s.schedule();
      const op = plan.kv.find((o) => o.type === "restore");
      assert.ok(op?.type === "restore" && op.keep === 40 && op.fallback === 0);
      assert.equal(plan.items.length, 0, "nothing of it runs before the state is loaded");
      s.restored(seq, ok, op.fallback);
      const next = s.schedule();
      assert.equal(next.items[0]!.firstPos, ok ? 40 : 0);
      assert.equal(commonPrefix(next.items[0]!.tokens, seq.tokens.slice(next.items[0]!.firstPos)), next.items[0]!.tokens.length);
    }
  });

  it("off: slots are closed, nothing is reused", () => {
    const s = make({ prefixCache: false });
    s.submit(seqOf(40), SAMPLER, { maxTokens: 1 });
    const first = run(s);
    assert.ok(first.ops.every((o) => o.type === "close"));
    const b = s.submit(seqOf(40), SAMPLER, { maxTokens: 1 });
    const plan = s.schedule();
    assert.deepEqual(plan.items.map((it) => [it.firstPos, it.tokens.length]), [[0, 40]]);
    assert.equal(b.cachedTokens, 0);
  });
});
