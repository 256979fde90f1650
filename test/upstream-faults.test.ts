/**
 * The gateway over an upstream that misbehaves on purpose (a real HTTP server on 127.0.0.1 with
 * scripted faults), seen by a real client over inferd's HTTP API: retries before the first
 * byte, a fallback to a local model (stories260K) when the upstream cannot answer, and after the
 * first byte an error event, never a silent close; the circuit opens and closes.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { serve } from "@hono/node-server";
import { Engine } from "../src/index.js";
import { Gateway } from "../src/gateway/gateway.js";
import { FaultUpstream, fault, type FaultEvent } from "../src/providers/http/fault-upstream.js";
import { Upstream } from "../src/providers/http/upstream.js";
import { FixedEngines } from "../src/providers/local/engines.js";
import { LocalProvider } from "../src/providers/local/local-provider.js";
import { OpenAiProvider } from "../src/providers/openai/openai-provider.js";
import { AnthropicProvider } from "../src/providers/anthropic/anthropic-provider.js";
import type { ProviderEvent, Usage } from "../src/providers/provider.js";
import { createApp } from "../src/server/app.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

/** An upstream's streamed completion of `words`, with usage, as OpenAI sends it. */
function completion(words: string[], opts: { usage?: boolean } = {}): FaultEvent[] {
  const chunks: FaultEvent[] = words.map((w) => ({ data: JSON.stringify({ choices: [{ index: 0, text: w, finish_reason: null }] }) }));
  chunks.push({ data: JSON.stringify({ choices: [{ index: 0, text: "", finish_reason: "stop" }] }) });
  if (opts.usage !== false) chunks.push({ data: JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: words.length, prompt_tokens_details: { cached_tokens: 2 } } }) });
  return chunks;
}

/** The same, whole: what an upstream answers a request that does not stream. */
function whole(words: string[], opts: { usage?: boolean } = {}) {
  const usage = opts.usage === false ? {} : { usage: { prompt_tokens: 3, completion_tokens: words.length, prompt_tokens_details: { cached_tokens: 2 } } };
  return fault.ok({ object: "text_completion", choices: [{ index: 0, text: words.join(""), finish_reason: "stop" }], ...usage });
}

describe("an upstream that fails, behind the gateway", needsShared, () => {
  let up: FaultUpstream;
  let upstream: Upstream;
  let server: Server;
  let base: string;
  let now = 0;
  let stories: Engine;

  before(async () => {
    up = await FaultUpstream.start();
    upstream = new Upstream(
      { name: "lab", baseUrl: `${up.url}/v1`, apiKey: "k", timeouts: { firstByteMs: 300, idleMs: 300 }, retries: { max: 2, baseMs: 10, capMs: 50 }, circuit: { failures: 3, cooldownMs: 1000 } },
      { now: () => Date.now() + now },
    );
    stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, kvTierBytes: 0 });
    const local = new LocalProvider("local", new FixedEngines(new Map([["small", stories]])));
    const lab = new OpenAiProvider({ name: "lab", client: upstream });
    const gateway = new Gateway([
      { name: "big", provider: lab, model: "m", fallbacks: ["small"] },
      { name: "solo", provider: lab, model: "m", fallbacks: [] },
      { name: "small", provider: local, model: "small", fallbacks: [] },
    ]);
    const app = createApp({ gateway });
    server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await up?.close();
  });
  beforeEach(() => {
    up.requests.length = 0;
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ask = (model: string, stream: boolean): Promise<Omit<Response, "json"> & { json(): Promise<any> }> =>
    fetch(`${base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "", max_tokens: 200, temperature: 0, stream, stream_options: { include_usage: true } }) });

  /** The JSON data events of a streamed body, [DONE] as the string. */
  const events = (body: string) => body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => (e === "data: [DONE]" ? "[DONE]" : JSON.parse(e.slice(6))));

  it("a 500, then a 429 with Retry-After, then an answer: retried before any byte, the client sees one clean answer", async () => {
    up.script(fault.status(500), fault.rateLimited("0"), whole(["Hello", " world"]));
    const r = await ask("solo", false);
    const j = await r.json();
    assert.equal(r.status, 200);
    assert.equal(j.choices[0].text, "Hello world");
    assert.equal(up.requests.length, 3, "two retries");
    assert.deepEqual(j.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 2 }, completion_tokens_details: { reasoning_tokens: 0 } });
    assert.equal(up.requests[0]!.headers.authorization, "Bearer k");
    // a client that reads no stream gets the upstream's whole answer
    assert.equal(JSON.parse(up.requests[0]!.body).stream, false);
  });

  it("hung before headers, reset, 503: after its retries the request falls back to the local model", async () => {
    up.script(fault.hang(), fault.reset(), fault.status(503));
    const r = await ask("big", true);
    const text = events(await r.text())
      .filter((e) => e !== "[DONE]" && e.choices?.length)
      .map((e) => e.choices[0].text)
      .join("");
    assert.equal(r.status, 200);
    assert.equal(text, storiesReference(), "the fallback's answer, whole");
    assert.equal(up.requests.length, 3);
  });

  it("after the first byte: a stall, a reset, a malformed chunk, a missing [DONE] each end the stream with an error event", async () => {
    const first = JSON.stringify({ choices: [{ index: 0, text: "Hel", finish_reason: null }] });
    const cases = [
      { kind: "raw" as const, chunks: [`data: ${first}\n\n`], end: "stall" as const },
      { kind: "raw" as const, chunks: [`data: ${first}\n\n`], end: "reset" as const },
      { kind: "raw" as const, chunks: [`data: ${first}\n\n`, "data: {not json\n\n"], end: "end" as const },
      fault.sse(completion(["Hel", "lo"]), { done: false }),
    ];
    for (const step of cases) {
      up.script(step);
      const r = await ask("big", true);
      const ev = events(await r.text());
      assert.equal(r.status, 200);
      assert.equal(ev[0].choices[0].text, "Hel", "the first byte was sent");
      assert.equal(ev.at(-1), "[DONE]");
      const err = ev.at(-2);
      assert.ok(err.error && typeof err.error.message === "string", `${JSON.stringify(step).slice(0, 60)}: ${JSON.stringify(ev.slice(-2))}`);
      assert.ok(!ev.some((e) => e !== "[DONE]" && e.choices?.[0]?.finish_reason === "stop"), "no finish that looks complete");
      // a broken body counts against the circuit; a whole one clears the count
      up.script(whole(["ok"]));
      assert.equal((await (await ask("solo", false)).json()).choices[0].text, "ok");
    }
    // non-streamed, a body cut short is an error status, never a 200 that looks whole
    up.script({ kind: "raw", chunks: ['{"choices": [{"index": 0, "text": "Hel'], end: "reset" });
    assert.equal((await ask("solo", false)).status, 502);
  });

  it("no usage from the upstream: counted by inferd, with the model's tokenizer when the config names one", async () => {
    up.script(whole(["a few words here"], { usage: false }));
    const j = await (await ask("solo", false)).json();
    assert.equal(j.usage.completion_tokens, 4, "by length: about 4 characters a token");
    const counted = new OpenAiProvider({ name: "lab", client: upstream, tokenizers: { m: async (t) => stories.tokenize(t, { addBos: false }).length } });
    up.script(whole(["Once upon a time, there was a girl"], { usage: false }));
    let usage: Usage | undefined;
    for await (const e of counted.generate({ id: "t", model: "m", input: { kind: "prompt", prompt: "Lily" }, sampling: {}, n: 1, stream: false, signal: new AbortController().signal })) if (e.type === "usage") usage = e.usage;
    assert.equal(usage?.outputTokens, stories.tokenize("Once upon a time, there was a girl", { addBos: false }).length);
    assert.equal(usage?.inputTokens, stories.tokenize("Lily", { addBos: false }).length);
    assert.equal(usage?.estimated, true);
  });

  it("the circuit opens after failures (requests fall back without reaching the upstream) and closes after its cooldown", async () => {
    up.script(...Array.from({ length: 9 }, () => fault.status(500)));
    for (let i = 0; i < 3; i++) assert.equal((await ask("solo", false)).status, 502);
    assert.equal(upstream.circuitState, "open");
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^inferd:upstream_circuit_open\{provider="lab"\} 1$/m);
    const seen = up.requests.length;
    const r = await ask("big", false);
    assert.equal((await r.json()).choices[0].text, storiesReference(), "fell back at once");
    assert.equal(up.requests.length, seen, "the open circuit sent nothing upstream");
    const refused = await ask("solo", false);
    assert.equal(refused.status, 503);
    assert.equal(up.pending, 0, "three calls of three attempts each");
    up.script(whole(["back"]));
    now += 2000; // past the cooldown: the next call is the half-open trial
    const trial = await (await ask("solo", false)).json();
    assert.equal(trial.choices[0].text, "back");
    assert.equal(upstream.circuitState, "closed");
  });
});

describe("Anthropic's usage, normalized", () => {
  it("input_tokens excludes cache reads and writes: the record counts all three, and the 1-hour writes", async () => {
    const up = await FaultUpstream.start();
    try {
      const ev = (type: string, data: object): FaultEvent => ({ event: type, data: JSON.stringify({ type, ...data }) });
      up.script(
        fault.sse(
          [
            ev("message_start", { message: { usage: { input_tokens: 7, output_tokens: 1, cache_read_input_tokens: 100, cache_creation_input_tokens: 30, cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 } } } }),
            ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
            ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hi" } }),
            ev("content_block_stop", { index: 0 }),
            ev("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 5, cache_read_input_tokens: null } }),
            ev("message_stop", {}),
          ],
          { done: false },
        ),
      );
      const p = new AnthropicProvider({ name: "claude", client: new Upstream({ name: "claude", baseUrl: `${up.url}/v1`, apiKey: "k", auth: { header: "x-api-key" } }) });
      const out: ProviderEvent[] = [];
      for await (const e of p.generate({ id: "r", model: "m", input: { kind: "chat", messages: [{ role: "user", content: "hi" }] }, sampling: {}, n: 1, signal: new AbortController().signal })) out.push(e);
      assert.deepEqual(out[0], { type: "start", inputTokens: 137, cachedInputTokens: 100 });
      const usage = out.at(-1)!;
      assert.ok(usage.type === "usage");
      assert.deepEqual(
        { input: usage.usage.inputTokens, cached: usage.usage.cachedInputTokens, write: usage.usage.cacheWriteTokens, write1h: usage.usage.cacheWrite1hTokens, output: usage.usage.outputTokens, estimated: usage.usage.estimated },
        { input: 137, cached: 100, write: 30, write1h: 20, output: 5, estimated: false },
      );
      assert.equal(up.requests[0]!.headers["x-api-key"], "k");
      assert.equal(up.requests[0]!.headers["anthropic-version"], "2023-06-01");
      await p.close();
    } finally {
      await up.close();
    }
  });
});
