import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Engine, type GenerateEvent } from "../src/index.js";
import { isInferdError } from "../src/util/errors.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

async function collect(it: AsyncIterable<GenerateEvent>) {
  let text = "";
  const tokens: number[] = [];
  let done: Extract<GenerateEvent, { type: "done" }> | undefined;
  for await (const ev of it) {
    if (ev.type === "delta") {
      text += ev.text;
      tokens.push(...ev.tokens);
    } else done = ev;
  }
  return { text, tokens, done: done! };
}

describe("Engine on stories260K", needsShared, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 16 });
  });
  after(async () => engine?.dispose());

  it("greedy from BOS reproduces the reference text exactly", async () => {
    const r = await collect(engine.generate("", { temperature: 0, maxTokens: 200 }));
    assert.equal(r.text, storiesReference());
    assert.deepEqual(r.tokens.slice(0, 12), [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421]);
    assert.equal(r.done.finishReason, "length");
    assert.equal(r.done.stats.outputTokens, 200);
    assert.equal(r.done.stats.promptTokens, 1);
    assert.ok(r.done.stats.timeToFirstTokenMs > 0 && r.done.stats.tokensPerSecond > 0);
  });

  it("compute shares: concurrent requests' compute adds up to the steps' time; a cached prompt says what it saved", async () => {
    let stepMs = 0;
    let counting = true;
    engine.onStep((s) => counting && (stepMs += s.durationMs));
    // long enough that its prefill step is big enough to measure what a prompt token costs, and
    // new (the prefix cache and its saved tier on disk would hold a prompt an earlier run sent)
    const prompt = `${Date.now()} Tom and his dog Max went to the big green forest. They saw a tall tree with a red bird. Max barked at the bird, and the bird sang.`;
    const runs = await Promise.all([10, 30, 60].map((n) => collect(engine.generate(prompt, { temperature: 0, maxTokens: n }))));
    counting = false;
    const total = runs.reduce((s, r) => s + r.done.stats.computeMs, 0);
    assert.ok(Math.abs(total - stepMs) < 1e-6 * Math.max(1, stepMs), `${total} vs ${stepMs}`);
    // the longest request ran in more steps, so it paid more
    assert.ok(runs[2]!.done.stats.computeMs > runs[0]!.done.stats.computeMs);
    const again = await collect(engine.generate(prompt, { temperature: 0, maxTokens: 1 }));
    assert.ok(again.done.stats.cachedTokens > 10);
    assert.ok(again.done.stats.savedComputeMs > 0, "the cached prefix is priced as the prefill it saved");
  });

  it("continues a text prompt with the right spacing", async () => {
    const r = await collect(engine.generate("Once upon", { temperature: 0, maxTokens: 3 }));
    assert.equal(r.text, " a time,");
  });

  it("same seed gives the same sampled text; different seeds differ", async () => {
    const gen = (seed: number) => collect(engine.generate("", { temperature: 1, seed, maxTokens: 60 }));
    const [a, b, c] = [await gen(42), await gen(42), await gen(7)];
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, c.text);
  });

  it("stops at a stop string that spans tokens, without emitting it", async () => {
    const ref = storiesReference();
    // "little girl" spans several tokens in this 512-token vocabulary
    const r = await collect(engine.generate("", { temperature: 0, maxTokens: 200, stop: ["little girl"] }));
    assert.ok(engine.tokenize("little girl", { addBos: false }).length > 1);
    assert.equal(r.text, ref.slice(0, ref.indexOf("little girl")));
    assert.equal(r.done.finishReason, "stop");
  });

  it("honours max tokens", async () => {
    const r = await collect(engine.generate("", { temperature: 0, maxTokens: 5 }));
    assert.equal(r.tokens.length, 5);
    assert.equal(r.done.finishReason, "length");
  });

  it("rejects a prompt longer than the context, stating both numbers", async () => {
    const long = Array.from({ length: 600 }, () => 403);
    await assert.rejects(collect(engine.generate(long, { maxTokens: 1 })), (e) => isInferdError(e, "context_overflow") && /600 tokens.*512 tokens/.test(e.message));
  });

  it("stops with finish reason length at the end of the context", async () => {
    const prompt = Array.from({ length: 500 }, (_, i) => (i === 0 ? 1 : 403));
    const r = await collect(engine.generate(prompt, { temperature: 0 }));
    assert.equal(r.done.finishReason, "length");
    assert.equal(r.tokens.length, 12);
  });

  it("aborts mid-generation and frees the sequence", async () => {
    const ac = new AbortController();
    let n = 0;
    let done: GenerateEvent | undefined;
    for await (const ev of engine.generate("", { temperature: 0, maxTokens: 400 }, { signal: ac.signal })) {
      if (ev.type === "delta" && ++n === 10) ac.abort();
      if (ev.type === "done") done = ev;
    }
    assert.equal(done?.type === "done" && done.finishReason, "abort");
    assert.ok(n >= 10 && n <= 11, `stopped right after the abort (got ${n} tokens)`);
    assert.equal(engine["core"].scheduler.runningCount, 0);
  });

  it("reports logprobs of the chosen token and its alternatives", async () => {
    const r: GenerateEvent[] = [];
    for await (const ev of engine.generate("", { temperature: 0, maxTokens: 2, logprobs: 3 })) r.push(ev);
    const first = r[0]!;
    assert.ok(first.type === "delta" && first.logprobs);
    const lp = first.logprobs![0]!;
    assert.equal(lp.token, 403);
    assert.deepEqual(lp.top.map((t) => t.token), [403, 385, 410]);
    assert.ok(lp.logprob < 0 && lp.logprob > -1, `greedy token is likely: ${lp.logprob}`);
    assert.equal(lp.logprob, lp.top[0]!.logprob);
  });

  it("logit bias bans a token; penalties change a repetitive continuation", async () => {
    const banned = await collect(engine.generate("", { temperature: 0, maxTokens: 1, logitBias: { 403: -100 } }));
    assert.deepEqual(banned.tokens, [385], "the second most likely token (' One') comes first");
    const plain = await collect(engine.generate("", { temperature: 0, maxTokens: 120 }));
    const penalized = await collect(engine.generate("", { temperature: 0, maxTokens: 120, frequencyPenalty: 1.5, presencePenalty: 1 }));
    assert.notEqual(penalized.text, plain.text);
    const distinct = (t: number[]) => new Set(t).size;
    assert.ok(distinct(penalized.tokens) > distinct(plain.tokens), "penalties make the output use more distinct tokens");
    const repeat = await collect(engine.generate("", { temperature: 0, maxTokens: 120, repetitionPenalty: 1.5 }));
    assert.notEqual(repeat.text, plain.text);
  });

  it("embeds inputs: normalized vectors, same input same vector", async () => {
    const [a, b, c] = await engine.embed(["Lily went to the park", "Lily went to the park", "The big red ball"]);
    assert.equal(a!.embedding.length, 64, "stories260K's embedding width");
    const norm = Math.sqrt(a!.embedding.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-6);
    assert.deepEqual(a!.embedding, b!.embedding);
    assert.notDeepEqual(a!.embedding, c!.embedding);
    assert.equal(a!.tokens, engine.tokenize("Lily went to the park").length);
  });

  it("16 concurrent greedy requests give exactly the tokens each gives alone", async () => {
    const prompts = Array.from({ length: 16 }, (_, i) => ["Once", "The dog", "Lily", "Tom", "A cat", "Sam", "One day", "Mia"][i % 8]! + " ".repeat(i >> 3) + (i >> 3 ? "and" : ""));
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await collect(engine.generate(p, { temperature: 0, maxTokens: 40 }))).tokens);
    const together = await Promise.all(prompts.map((p) => collect(engine.generate(p, { temperature: 0, maxTokens: 40 }))));
    together.forEach((r, i) => assert.deepEqual(r.tokens, alone[i], `prompt ${i} (${JSON.stringify(prompts[i])})`));
  });
});
