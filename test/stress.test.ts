/**
 * A hostile crowd against one server: streaming and not, logprobs and top_logprobs, n > 1,
 * grammars and penalties mixed, aborted at random points (queued, in prefill, decoding). The
 * process must survive (a native crash kills the test run), every gauge must come back to
 * idle, and a greedy request must still give the reference text.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Engine } from "../src/index.js";
import { startApp } from "./app-server.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

/** A deterministic PRNG (mulberry32), so a failing mix can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SCHEMA = { type: "object", properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer" } }, required: ["name", "age"] };

describe("stress: a mixed, aborting crowd", needsShared, () => {
  let s: Awaited<ReturnType<typeof startApp>>;
  before(async () => {
    const stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 6, maxWaiting: 200, kvTierBytes: 0 });
    const chat = await Engine.load({ model: "synthetic:smollm2-135m-q4_0", threads: 1, maxSequences: 4, contextSize: 512, maxWaiting: 200, kvTierBytes: 0 });
    s = await startApp(new Map([["stories260K", stories], ["chat", chat]]));
  });
  after(async () => s?.close());

  it("120 mixed requests, a third aborted at random; then idle gauges and the reference text", async () => {
    const seed = 20261202;
    const random = rng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const outcomes = { ok: 0, aborted: 0, refused: 0 };
    const requests = Array.from({ length: 120 }, async (_, i) => {
      const chat = random() < 0.3;
      const stream = random() < 0.5;
      const body: Record<string, unknown> = chat
        ? { model: "chat", messages: [{ role: "user", content: `hello ${i}` }], max_tokens: 8 + Math.floor(random() * 24), logprobs: random() < 0.6, top_logprobs: pick([0, 1, 5]) }
        : { model: "stories260K", prompt: pick(["", "Once upon a time", "Lily saw a ball"]), max_tokens: 10 + Math.floor(random() * 120), logprobs: pick([null, 0, 3]) };
      body.n = pick([1, 1, 2, 3]);
      body.temperature = pick([0, 0.8, 1.2]);
      body.seed = i;
      if (random() < 0.3) body.frequency_penalty = 0.5;
      if (random() < 0.2) body.repetition_penalty = 1.3;
      if (random() < 0.25) body.response_format = { type: "json_schema", json_schema: { name: "p", schema: SCHEMA } };
      body.stream = stream;
      const abortAfterMs = random() < 0.35 ? Math.floor(random() * 400) : undefined;
      const ac = new AbortController();
      if (abortAfterMs !== undefined) setTimeout(() => ac.abort(), abortAfterMs);
      try {
        const res = await s.post(chat ? "/v1/chat/completions" : "/v1/completions", body, { signal: ac.signal });
        if (res.status === 429) return void (outcomes.refused++, await res.text());
        const text = await res.text();
        assert.equal(res.status, 200, `request ${i}: ${text}`);
        if (stream) assert.match(text, /data: \[DONE\]\n\n$/, `request ${i} ended as OpenAI streams end`);
        else {
          const j = JSON.parse(text);
          assert.equal(j.choices.length, body.n);
          if (body.logprobs) for (const c of j.choices) assert.ok(c.logprobs !== null, `request ${i} has logprobs`);
        }
        outcomes.ok++;
      } catch (e) {
        if (!ac.signal.aborted) throw e;
        outcomes.aborted++;
      }
    });
    await Promise.all(requests);
    assert.ok(outcomes.ok > 40 && outcomes.aborted > 10, JSON.stringify(outcomes));

    // capacity comes back: nothing running, nothing waiting, no KV held
    for (const model of ["stories260K", "chat"]) {
      for (let i = 0; i < 300; i++) {
        const busy = (await s.metric("inferd:num_requests_running", { model_name: model })) + (await s.metric("inferd:num_requests_waiting", { model_name: model }));
        if (busy === 0 && (await s.metric("inferd:kv_cache_usage_perc", { model_name: model })) === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await s.metric("inferd:num_requests_running", { model_name: model }), 0, `${model} running`);
      assert.equal(await s.metric("inferd:num_requests_waiting", { model_name: model }), 0, `${model} waiting`);
      assert.equal(await s.metric("inferd:kv_cache_usage_perc", { model_name: model }), 0, `${model} KV`);
    }
    const r = await (await s.post("/v1/completions", { model: "stories260K", prompt: "", max_tokens: 200, temperature: 0 })).json();
    assert.equal(r.choices[0].text, storiesReference());
  });

  it("many concurrent logprobs requests and one with n: 9 (each crashed the process before)", async () => {
    const res = await Promise.all([
      ...Array.from({ length: 16 }, (_, i) => s.post("/v1/completions", { model: "stories260K", prompt: "Once", max_tokens: 40, temperature: 1, seed: i, logprobs: 5 })),
      s.post("/v1/completions", { model: "stories260K", prompt: "", max_tokens: 40, temperature: 1, seed: 1, logprobs: 2, n: 6 }),
      ...Array.from({ length: 4 }, (_, i) => s.post("/v1/chat/completions", { model: "chat", messages: [{ role: "user", content: "hi" }], max_tokens: 20, logprobs: true, top_logprobs: 3, seed: i, n: i === 0 ? 9 : 1 })),
    ]);
    for (const r of res) {
      assert.equal(r.status, 200);
      const j = await r.json();
      for (const c of j.choices) assert.ok(c.logprobs !== null);
    }
  });
});
