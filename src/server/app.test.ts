/**
 * The HTTP layer against a scripted provider: failures the real model cannot be made to produce
 * on demand (an error in the middle of a stream, an unexpected exception).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Gateway } from "../gateway/gateway.js";
import type { Provider, ProviderEvent, Usage } from "../providers/provider.js";
import { createApp } from "./app.js";

/** A provider that plays `script`; a thrown value fails the response at that point. */
function scripted(script: (ProviderEvent | Error)[]): Gateway {
  const provider: Provider = {
    name: "scripted",
    async *generate(): AsyncGenerator<ProviderEvent> {
      for (const ev of script) {
        if (ev instanceof Error) throw ev;
        yield ev;
      }
    },
    close: async () => {},
  };
  return new Gateway([{ name: "m", provider, model: "m", fallbacks: [] }]);
}

const usage: Usage = { inputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 2, reasoningTokens: 0, estimated: false, timing: { queuedMs: 0, firstTokenMs: 1, totalMs: 2 }, provider: "scripted", model: "m" };
const text = (t: string): ProviderEvent => ({ type: "text", choice: 0, text: t });
const post = (app: ReturnType<typeof createApp>, body: object, headers: Record<string, string> = {}) =>
  app.request("/v1/completions", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("HTTP layer with a scripted provider", () => {
  it("an error after the stream started arrives as data: {error}, never a silent close", async () => {
    const app = createApp({ gateway: scripted([text("Hel"), text("lo"), new Error("backend exploded at /src/x.js:1")]) });
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
    const app = createApp({ gateway: scripted([new TypeError("cannot read x of undefined")]) });
    const res = await post(app, { model: "m", prompt: "x" });
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.deepEqual(body, { error: { message: "internal server error", type: "server_error", param: null, code: null } });
  });

  it("an API key is required when set (OpenAI's bearer or Anthropic's x-api-key)", async () => {
    const app = createApp({ gateway: scripted([text("ok"), { type: "finish", choice: 0, reason: "stop" }, { type: "usage", usage }]), apiKey: "k1" });
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
    const app = createApp({ gateway: scripted([]) });
    const res = await app.request("/v1/nope");
    assert.equal(res.status, 404);
    assert.equal(typeof ((await res.json()) as { error: { message: unknown } }).error.message, "string");
  });
});
