/**
 * Speculative decoding on the real stories260K model: fewer target steps, same outputs (greedy)
 * and the same distribution (sampling).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Engine, type GenerateParams } from "../src/index.js";
import { needsShared, STORIES } from "./shared.js";
import { chiSquareTwoSample } from "./stats.js";

async function tokensOf(engine: Engine, prompt: string | number[], params: GenerateParams): Promise<number[]> {
  const out: number[] = [];
  for await (const ev of engine.generate(prompt, params)) if (ev.type === "delta") out.push(...ev.tokens);
  return out;
}

const PROMPTS = [
  "Once upon a time",
  "Lily and Tom went to the park",
  "The little dog was sad",
  "One day, a big bird",
  "Tim had a red ball",
  "Sue liked to bake cakes",
  "There was a tall tree",
  "The sun was hot",
];

describe("speculative decoding on stories260K", needsShared, () => {
  let plain: Engine;
  let ngram: Engine;
  let draft: Engine;
  const common = { model: STORIES!, threads: 1, maxSequences: 8, kvTierBytes: 0 };

  before(async () => {
    plain = await Engine.load({ ...common, prefixCache: false });
    // stories260K is so small that verifying costs as much as decoding, and adaptive k would
    // (rightly) not speculate: these engines always draft 4 tokens, so the mechanics are exercised
    ngram = await Engine.load({ ...common, speculative: "ngram", specK: 4, specAdaptive: false });
    // the model drafting for itself: every guess is right, so the draft path is fully exercised
    draft = await Engine.load({ ...common, draftModel: STORIES!, specK: 4, specAdaptive: false });
  });
  after(async () => {
    for (const e of [plain, ngram, draft]) await e?.dispose();
  });

  it("temperature 0: the output is identical with speculation on and off, both drafters, batch 1 and 8", async () => {
    const greedy = { temperature: 0, maxTokens: 160 };
    const reference = await Promise.all(PROMPTS.map((p) => tokensOf(plain, p, greedy)));
    for (const engine of [ngram, draft]) {
      const before = engine.specStats!;
      const one: number[][] = [];
      for (const p of PROMPTS.slice(0, 3)) one.push(await tokensOf(engine, p, greedy));
      assert.deepEqual(one, reference.slice(0, 3), "batch size 1");
      const eight = await Promise.all(PROMPTS.map((p) => tokensOf(engine, p, greedy)));
      assert.deepEqual(eight, reference, "batch size 8");
      const s = engine.specStats!;
      assert.ok(s.accepted - before.accepted > 100, `drafts were accepted (${s.accepted - before.accepted})`);
      if (engine === ngram) assert.ok(s.proposed - s.accepted > 20, "and rejected: rejected tokens left the KV cache");
    }
    assert.equal(draft.specStats!.proposed, draft.specStats!.accepted, "a model drafting for itself is always right");
  });

  it("KV after rejections is consistent: continuing a speculated sequence equals a fresh run", async () => {
    const prompt = ngram.tokenize(PROMPTS[1]!);
    const first = await tokensOf(ngram, prompt, { temperature: 0, maxTokens: 120 });
    // the continuation reuses the speculated sequence's KV (prefix cache) on `ngram`, computes afresh on `plain`
    const cont = [...prompt, ...first];
    assert.deepEqual(await tokensOf(ngram, cont, { temperature: 0, maxTokens: 60, speculative: false }), await tokensOf(plain, cont, { temperature: 0, maxTokens: 60 }));
  });

  it("temperature > 0: tokens are distributed as without speculation (chi-square, p > 0.001)", async () => {
    // a prompt that repeats itself, so prompt lookup has guesses from the first decode step on
    const prompt = "Once upon a time, there was a little girl named Lily. Once upon a time, there was a little";
    const N = 400;
    const sample = async (engine: Engine) => {
      const runs: number[][] = [];
      for (let i = 0; i < N; i += 8) {
        runs.push(...(await Promise.all(Array.from({ length: 8 }, (_, j) => tokensOf(engine, prompt, { temperature: 1, seed: 1000 + i + j, maxTokens: 4 })))));
      }
      return runs;
    };
    const base = await sample(plain);
    for (const engine of [ngram, draft]) {
      const before = engine.specStats!;
      const spec = await sample(engine);
      const s = engine.specStats!;
      assert.ok(s.proposed - before.proposed > N, `speculation was used (${s.proposed - before.proposed} drafted)`);
      // the 2nd, 3rd and 4th tokens are the speculated ones (the 1st comes from the prefill step)
      for (const pos of [1, 2, 3]) {
        const t = chiSquareTwoSample(base.map((r) => r[pos]!), spec.map((r) => r[pos]!));
        assert.ok(t.p > 0.001, `${engine === ngram ? "ngram" : "draft"} token ${pos + 1}: chi2 ${t.stat.toFixed(1)}, df ${t.df}, p ${t.p.toExponential(2)}`);
      }
      const pairs = (rs: number[][]) => rs.map((r) => `${r[1]},${r[2]}`);
      const joint = chiSquareTwoSample(pairs(base), pairs(spec));
      assert.ok(joint.p > 0.001, `joint (2nd, 3rd): p ${joint.p.toExponential(2)}`);
    }
  });
});
