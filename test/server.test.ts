/**
 * The HTTP server against real clients: the official `openai` and `@anthropic-ai/sdk` SDKs, on a
 * server started on 127.0.0.1 with stories260K (no chat template) and a synthetic model with one.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { Ajv } from "ajv";
import { serve } from "@hono/node-server";
import OpenAI from "openai";
import { Engine } from "../src/index.js";
import { localGateway } from "../src/gateway/local-gateway.js";
import { createApp } from "../src/server/app.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

/** A response body as loosely typed JSON: the tests check its fields one by one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json();

describe("inferd serve", needsShared, () => {
  let server: Server;
  let base: string;
  let openai: OpenAI;
  let stories: Engine;
  let chat: Engine;

  before(async () => {
    stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 4, maxWaiting: 2, kvTierBytes: 0 });
    chat = await Engine.load({ model: "synthetic:smollm2-135m-q4_0", threads: 1, maxSequences: 2, contextSize: 512, kvTierBytes: 0 });
    const app = createApp({ gateway: localGateway(new Map([["stories260K", stories], ["chat", chat]])), maxBodyBytes: 64 * 1024 });
    server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await stories?.dispose();
    await chat?.dispose();
  });

  it("completions: greedy output equals the reference text", async () => {
    const r = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 200, temperature: 0 });
    assert.equal(r.object, "text_completion");
    assert.equal(r.choices[0]!.text, storiesReference());
    assert.equal(r.choices[0]!.finish_reason, "length");
    assert.deepEqual(r.usage, { prompt_tokens: 1, completion_tokens: 200, total_tokens: 201, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } });
  });

  it("completions streaming: same id on every chunk, text equals the reference, usage chunk then [DONE]", async () => {
    const stream = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 200, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    const ids = new Set<string>();
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      if (chunk.choices.length > 0) {
        text += chunk.choices[0]!.text;
        finish = chunk.choices[0]!.finish_reason ?? finish;
      } else usage = chunk.usage ?? undefined;
    }
    assert.equal(ids.size, 1);
    assert.equal(text, storiesReference());
    assert.equal(finish, "length");
    assert.equal(usage?.completion_tokens, 200);
  });

  it("raw SSE: role first, finish_reason on the last choice chunk, usage with empty choices, [DONE]", async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hi" }], max_tokens: 5, stream: true, stream_options: { include_usage: true }, ignore_eos: true }),
    });
    const body = await res.text();
    const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    assert.equal(new Set(chunks.map((c) => c.created)).size, 1);
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(usageChunk.usage.completion_tokens, 5);
    assert.equal(usageChunk.usage.prompt_tokens_details.cached_tokens, 0);
    const last = chunks.at(-2);
    assert.equal(last.choices[0].finish_reason, "length");
  });

  it("chat completions with the model's chat template, n=2 and stop", async () => {
    const r = await openai.chat.completions.create({ model: "chat", messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello" }], max_tokens: 6, n: 2, seed: 5, temperature: 1 });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices.length, 2);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    for (const c of r.choices) assert.equal(c.message.role, "assistant");
    const s = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 200, temperature: 0, stop: ["park", "ball"] });
    assert.equal(s.choices[0]!.text, storiesReference().split("park")[0]);
    assert.equal(s.choices[0]!.finish_reason, "stop");
  });

  it("response_format json_schema: the output parses and validates", async () => {
    const schema = {
      type: "object",
      properties: { color: { enum: ["red", "green", "blue"] }, happy: { type: "boolean" }, count: { type: "integer" } },
      required: ["color", "happy", "count"],
      additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    for (const seed of [1, 2, 3]) {
      const r = await openai.chat.completions.create({
        model: "chat",
        messages: [{ role: "user", content: "a color please" }],
        max_tokens: 100,
        seed,
        response_format: { type: "json_schema", json_schema: { name: "pick", schema, strict: true } },
      });
      const text = r.choices[0]!.message.content!;
      assert.equal(r.choices[0]!.finish_reason, "stop", text);
      assert.ok(validate(JSON.parse(text)), `${text}: ${JSON.stringify(validate.errors)}`);
    }
    // on the real model too, through /v1/completions (an extension vLLM also has)
    const s = await openai.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 100, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "pick", schema } } } as never);
    assert.ok(validate(JSON.parse(s.choices[0]!.text)), s.choices[0]!.text);
  });

  it("response_format json_object: a JSON object", async () => {
    const r = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 60, temperature: 0, response_format: { type: "json_object" } } as never);
    assert.match(r.choices[0]!.text, /^\{/);
    assert.ok(r.choices[0]!.text.length > 1);
  });

  const weather = {
    type: "function" as const,
    function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { enum: ["Paris", "Oslo"] }, days: { type: "integer" } } } },
  };
  const clock = { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } } } } };

  it("tools: a forced call comes back as tool_calls, and the result goes back in a tool message", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
    const r = await openai.chat.completions.create({ model: "chat", messages, tools: [weather, clock], tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 80, seed: 1 });
    const choice = r.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.type, "function");
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, "get_weather");
    const args = JSON.parse(call.function.arguments);
    assert.ok(["Paris", "Oslo"].includes(args.city) && Number.isInteger(args.days), call.function.arguments);
    // the round trip: the assistant's call and the tool's answer render through the template
    messages.push(choice.message as OpenAI.ChatCompletionMessageParam, { role: "tool", tool_call_id: call.id, content: "sunny, 21C" });
    const r2 = await openai.chat.completions.create({ model: "chat", messages, tools: [weather, clock], max_tokens: 8, seed: 1 });
    assert.ok(r2.usage!.prompt_tokens > r.usage!.prompt_tokens + 10, "the call and its result are in the prompt");
    assert.ok(["stop", "length", "tool_calls"].includes(r2.choices[0]!.finish_reason));
  });

  it("tools: tool_choice required, streamed, delivers one call the SDK can assemble", async () => {
    const stream = openai.chat.completions.stream({ model: "chat", messages: [{ role: "user", content: "time?" }], tools: [weather, clock], tool_choice: "required", max_tokens: 80, seed: 2 });
    const final = await stream.finalChatCompletion();
    const choice = final.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.ok(["get_weather", "get_time"].includes(call.function.name));
    assert.equal(typeof JSON.parse(call.function.arguments), "object");
    const bad = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "x" }], tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }) });
    assert.equal(bad.status, 400);
    assert.equal((await json(bad)).error.param, "tool_choice");
  });

  it("a model without a chat template gets a clear 400 on chat", async () => {
    await assert.rejects(openai.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "hi" }] }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && /chat template/.test(e.message));
  });

  it("logprobs on chat and text completions", async () => {
    const r = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 2, temperature: 0, logprobs: 3 });
    const lp = r.choices[0]!.logprobs!;
    assert.equal(lp.tokens!.length, 2);
    assert.equal(Object.keys(lp.top_logprobs![0]!).length, 3);
    assert.ok(lp.token_logprobs![0]! < 0);
    const c = await openai.chat.completions.create({ model: "chat", messages: [{ role: "user", content: "hi" }], max_tokens: 2, logprobs: true, top_logprobs: 2 });
    assert.equal(c.choices[0]!.logprobs!.content!.length, c.usage!.completion_tokens);
    assert.equal(c.choices[0]!.logprobs!.content![0]!.top_logprobs.length, 2);
  });

  it("abort mid-stream frees the sequence", async () => {
    const ac = new AbortController();
    const stream = await openai.completions.create({ model: "stories260K", prompt: "", max_tokens: 400, temperature: 0, stream: true }, { signal: ac.signal });
    let n = 0;
    // the SDK ends the iteration quietly when its own signal aborts
    await (async () => {
      for await (const _ of stream) if (++n === 5) ac.abort();
    })().catch((e: unknown) => assert.ok(e instanceof OpenAI.APIUserAbortError, String(e)));
    assert.ok(n < 400, `stream stopped after the abort (${n} chunks)`);
    for (let i = 0; i < 100 && stories.load.running > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(stories.load.running, 0, "the aborted request no longer runs");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /inferd:request_success_total\{model_name="stories260K",finished_reason="abort"\} 1/);
  });

  it("embeddings", async () => {
    const r = await openai.embeddings.create({ model: "stories260K", input: ["Lily", "a big red ball"] });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[0]!.embedding.length, 64);
    assert.ok(r.usage.prompt_tokens > 2);
  });

  it("models, health and metrics", async () => {
    const models = await openai.models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ["chat", "stories260K"]);
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of ["inferd:num_requests_running", "inferd:num_requests_waiting", "inferd:prompt_tokens_total", "inferd:generation_tokens_total", "inferd:time_to_first_token_seconds", "inferd:inter_token_latency_seconds", "inferd:e2e_request_latency_seconds", "inferd:request_queue_time_seconds"]) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, "m"), name);
    }
    assert.match(metrics, /inferd:generation_tokens_total\{model_name="stories260K"\} [1-9]/);
  });

  it("Anthropic SDK: messages, streaming and not", async () => {
    const anthropic = new Anthropic({ baseURL: base, apiKey: "unused", maxRetries: 0 });
    const m = await anthropic.messages.create({ model: "chat", max_tokens: 5, messages: [{ role: "user", content: "hello" }], system: "be brief" });
    assert.equal(m.type, "message");
    assert.equal(m.content[0]!.type, "text");
    assert.ok(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0) > 3, "input_tokens counts what was not read from the cache");
    assert.ok(["max_tokens", "end_turn"].includes(m.stop_reason!));
    assert.equal(typeof m.usage.cache_read_input_tokens, "number");
    const stream = anthropic.messages.stream({ model: "chat", max_tokens: 5, messages: [{ role: "user", content: "hello" }] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop");
    assert.ok(types.includes("content_block_start") && types.includes("message_delta"));
    const final = await stream.finalMessage();
    assert.ok(final.usage.output_tokens >= 1);
  });

  it("cached_tokens and cache_read_input_tokens are the prefix cache's real counts", async () => {
    const prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
    const first = await openai.completions.create({ model: "stories260K", prompt, max_tokens: 4, temperature: 0 });
    const again = await openai.completions.create({ model: "stories260K", prompt, max_tokens: 4, temperature: 0 });
    assert.equal(again.choices[0]!.text, first.choices[0]!.text);
    assert.equal(again.usage!.prompt_tokens_details!.cached_tokens, again.usage!.prompt_tokens - 1, "all but the last prompt token came from the cache");
    const anthropic = new Anthropic({ baseURL: base, apiKey: "unused", maxRetries: 0 });
    const ask = { model: "chat", max_tokens: 3, messages: [{ role: "user" as const, content: "Tell me a long story about a dragon and a knight who became friends." }] };
    await anthropic.messages.create(ask);
    const m = await anthropic.messages.create(ask);
    assert.ok(m.usage.cache_read_input_tokens! > 10, `cache_read_input_tokens ${m.usage.cache_read_input_tokens}`);
    assert.ok(m.usage.input_tokens >= 1, "the last prompt token is always computed");
    const streamed = await anthropic.messages.stream(ask).finalMessage();
    assert.equal(streamed.usage.cache_read_input_tokens, m.usage.cache_read_input_tokens);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const hits = Number(/^inferd:prefix_cache_hits\{model_name="stories260K"\} (\d+)/m.exec(metrics)?.[1]);
    const queries = Number(/^inferd:prefix_cache_queries\{model_name="stories260K"\} (\d+)/m.exec(metrics)?.[1]);
    assert.ok(hits >= again.usage!.prompt_tokens - 1 && queries > hits, `hits ${hits}, queries ${queries}`);
  });

  it("multi-turn chat: turn N's cache hit covers the whole history, the previous answer included", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Write a few words about the sea, the sky and the ships." }];
    let previous: { prompt: number; completion: number } | undefined;
    for (let turn = 1; turn <= 3; turn++) {
      const stream = turn === 2;
      let content = "";
      let usage: OpenAI.CompletionUsage | undefined;
      if (stream) {
        const s = await openai.chat.completions.create({ model: "chat", messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
        for await (const chunk of s) {
          content += chunk.choices[0]?.delta.content ?? "";
          usage = chunk.usage ?? usage;
        }
      } else {
        const r = await openai.chat.completions.create({ model: "chat", messages, max_tokens: 12, temperature: 0 });
        content = r.choices[0]!.message.content ?? "";
        usage = r.usage;
      }
      if (previous !== undefined) {
        // everything but the previous answer's last token (sampled, never computed) was in KV
        assert.equal(usage!.prompt_tokens_details!.cached_tokens, previous.prompt + previous.completion - 1, `turn ${turn}`);
      }
      previous = { prompt: usage!.prompt_tokens, completion: usage!.completion_tokens };
      messages.push({ role: "assistant", content }, { role: "user", content: `And now turn ${turn + 1}, please.` });
    }
    const anthropic = new Anthropic({ baseURL: base, apiKey: "unused", maxRetries: 0 });
    const conv: Anthropic.MessageParam[] = [{ role: "user", content: "Tell me about the mountains and the rivers." }];
    const first = await anthropic.messages.create({ model: "chat", max_tokens: 10, messages: conv }); // sampled (temperature 1)
    const answer = first.content[0]!.type === "text" ? first.content[0]!.text : "";
    conv.push({ role: "assistant", content: answer }, { role: "user", content: "More, please." });
    const second = await anthropic.messages.create({ model: "chat", max_tokens: 4, messages: conv });
    const firstPrompt = first.usage.input_tokens + (first.usage.cache_read_input_tokens ?? 0);
    assert.equal(second.usage.cache_read_input_tokens, firstPrompt + first.usage.output_tokens - 1, JSON.stringify({ answer, first: first.usage, stop: first.stop_reason }));
  });

  it("errors: OpenAI's shape with the right status and param", async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    let r = await post("/v1/completions", "{not json");
    assert.equal(r.status, 400);
    assert.match((await json(r)).error.message, /not valid JSON/);
    r = await post("/v1/completions", JSON.stringify({ model: "stories260K", prompt: "x", temperature: "hot" }));
    assert.equal(r.status, 400);
    assert.equal((await json(r)).error.param, "temperature");
    r = await post("/v1/completions", JSON.stringify({ model: "stories260K", prompt: "x", top_p: 1.5 }));
    assert.equal((await json(r)).error.param, "top_p");
    r = await post("/v1/completions", JSON.stringify({ model: "nope", prompt: "x" }));
    assert.equal(r.status, 404);
    assert.equal((await json(r)).error.code, "model_not_found");
    r = await post("/v1/completions", JSON.stringify({ model: "stories260K", prompt: "Once upon a time", max_tokens: 600 }));
    assert.equal(r.status, 400);
    assert.match((await json(r)).error.message, /600.*512|512.*600/);
    r = await post("/v1/completions", JSON.stringify({ model: "stories260K", prompt: "x".repeat(70 * 1024) }));
    assert.equal(r.status, 413);
    const e = await json(r);
    assert.ok(e.error.message && !/\bat .*\.js/.test(JSON.stringify(e)));
  });

  it("429 with Retry-After when the queue is full", async () => {
    // 4 sequences run, 2 may wait: the 7th concurrent request is rejected at once
    const reqs = Array.from({ length: 7 }, () =>
      fetch(`${base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "stories260K", prompt: "", max_tokens: 300, temperature: 0 }) }),
    );
    const res = await Promise.all(reqs);
    const rejected = res.filter((r) => r.status === 429);
    assert.ok(rejected.length >= 1, `statuses: ${res.map((r) => r.status).join(",")}`);
    assert.ok(Number(rejected[0]!.headers.get("retry-after")) >= 1);
    assert.equal((await json(rejected[0]!)).error.code, "overloaded");
    await Promise.all(res.filter((r) => !r.bodyUsed).map((r) => r.text()));
  });
});
