/**
 * The HTTP layer against a scripted engine: failures the real model cannot be made to produce
 * on demand (an error in the middle of a stream, an unexpected exception).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Engine, GenerateEvent } from "../index.js";
import { createApp } from "./app.js";

const stats = { promptTokens: 1, outputTokens: 2, queueMs: 0, timeToFirstTokenMs: 1, timePerOutputTokenMs: 1, totalMs: 2, tokensPerSecond: 1, cachedTokens: 0 };

/** An engine whose `generate` plays `script`; a thrown value fails the stream at that point. */
function fakeEngine(script: (GenerateEvent | Error)[]): Engine {
  const fake = {
    model: { name: "fake", chatTemplate: undefined, bosText: undefined, eosText: undefined, addBos: false, vocabSize: 0, controlTokenTexts: [], maxTokenBytes: 4 },
    kv: { cellsPerSequence: 100, maxSequences: 1, maxBatchTokens: 10 },
    load: { running: 0, waiting: 0 },
    checkCapacity: () => {},
    kvUsage: 0,
    tokenize: (text: string) => Array.from(text, (ch) => ch.charCodeAt(0)),
    detokenize: (tokens: number[]) => String.fromCharCode(...tokens),
    async *generate(): AsyncGenerator<GenerateEvent> {
      for (const ev of script) {
        if (ev instanceof Error) throw ev;
        yield ev;
      }
    },
  };
  return fake as unknown as Engine;
}

const delta = (text: string): GenerateEvent => ({ type: "delta", text, tokens: [1] });
const post = (app: ReturnType<typeof createApp>, body: object, headers: Record<string, string> = {}) =>
  app.request("/v1/completions", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("HTTP layer with a scripted engine", () => {
  it("an error after the stream started arrives as data: {error}, never a silent close", async () => {
    const app = createApp({ engines: new Map([["m", fakeEngine([delta("Hel"), delta("lo"), new Error("backend exploded at /src/x.js:1")])]]) });
    const res = await post(app, { model: "m", prompt: "x", stream: true });
    assert.equal(res.status, 200);
    const data = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    assert.equal(data.at(-1), "[DONE]", "the stream still ends as OpenAI streams end (vLLM does the same)");
    const events = data.slice(0, -1).map((e) => JSON.parse(e));
    assert.deepEqual(events.slice(0, 2).map((e) => e.choices[0].text), ["Hel", "lo"]);
    const last = events.at(-1);
    assert.equal(last.error.type, "server_error");
    assert.equal(last.error.message, "internal server error", "no internals leak");
  });

  it("an unexpected exception before streaming is a 500 with OpenAI's shape and no stack", async () => {
    const app = createApp({ engines: new Map([["m", fakeEngine([new TypeError("cannot read x of undefined")])]]) });
    const res = await post(app, { model: "m", prompt: "x" });
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.deepEqual(body, { error: { message: "internal server error", type: "server_error", param: null, code: null } });
  });

  it("an API key is required when set (OpenAI's bearer or Anthropic's x-api-key)", async () => {
    const done: GenerateEvent = { type: "done", finishReason: "stop", stats };
    const app = createApp({ engines: new Map([["m", fakeEngine([delta("ok"), done])]]), apiKey: "k1" });
    assert.equal((await post(app, { model: "m", prompt: "x" })).status, 401);
    assert.equal((await post(app, { model: "m", prompt: "x" }, { authorization: "Bearer nope" })).status, 401);
    // the key alone, without the Bearer scheme, is not a credential
    assert.equal((await post(app, { model: "m", prompt: "x" }, { authorization: "k1" })).status, 401);
    assert.equal((await post(app, { model: "m", prompt: "x" }, { authorization: "Bearer k1x" })).status, 401);
    const ok = await post(app, { model: "m", prompt: "x" }, { authorization: "Bearer k1" });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { choices: { text: string }[] }).choices[0].text, "ok");
    assert.equal((await post(app, { model: "m", prompt: "x" }, { "x-api-key": "k1" })).status, 200);
    assert.equal((await app.request("/health")).status, 200, "health needs no key");
  });

  it("unknown routes are a 404 in OpenAI's shape", async () => {
    const app = createApp({ engines: new Map([["m", fakeEngine([])]]) });
    const res = await app.request("/v1/nope");
    assert.equal(res.status, 404);
    assert.equal(typeof ((await res.json()) as { error: { message: unknown } }).error.message, "string");
  });
});
