/**
 * inferd as a gateway in front of another inferd: two real processes on 127.0.0.1. The upstream
 * serves stories260K and a chat model (prefix cache off, so usage is deterministic); the
 * gateway reaches it as an OpenAI-compatible provider and as an Anthropic one, and serves a
 * local model of its own. Greedy outputs and usage through the gateway equal the upstream's.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startInferd, type InferdProcess } from "./inferd-process.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

const CHAT = "synthetic:smollm2-135m-q4_0";
const KEY = "lab-secret-key-123";

describe("inferd in front of inferd", needsShared, () => {
  let upstream: InferdProcess;
  let gateway: InferdProcess;
  let direct: OpenAI;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    upstream = await startInferd(["--model", STORIES!, "--model", CHAT, "--context", "512", "--threads", "1", "--no-prefix-cache", "--api-key", KEY]);
    const dir = await mkdtemp(join(tmpdir(), "inferd-gw-"));
    const config = join(dir, "inferd.yaml");
    await writeFile(
      config,
      [
        "providers:",
        `  lab: { type: openai, base_url: "${upstream.base}/v1", api_key_env: LAB_KEY }`,
        `  labmsg: { type: anthropic, base_url: "${upstream.base}/v1", api_key_env: LAB_KEY }`,
        "models:",
        "  - { name: big, provider: lab, model: stories260K }",
        `  - { name: chat, provider: lab, model: "${CHAT}", context: 512 }`,
        `  - { name: chat-via-messages, provider: labmsg, model: "${CHAT}" }`,
        `  - { name: small, provider: local, model: "${STORIES}", threads: 1 }`,
      ].join("\n"),
    );
    gateway = await startInferd(["--config", config], { LAB_KEY: KEY });
    direct = new OpenAI({ baseURL: `${upstream.base}/v1`, apiKey: KEY, maxRetries: 0 });
    openai = new OpenAI({ baseURL: `${gateway.base}/v1`, apiKey: "unused", maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: gateway.base, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await gateway?.stop();
    await upstream?.stop();
  });

  it("completions through the gateway: the reference text, streamed and not, usage as the upstream's", async () => {
    const ask = { model: "big", prompt: "", max_tokens: 200, temperature: 0 };
    const whole = await openai.completions.create(ask);
    assert.equal(whole.choices[0]!.text, storiesReference());
    assert.equal(whole.model, "big");
    const theirs = await direct.completions.create({ ...ask, model: "stories260K" });
    // the tokens are the upstream's; the price is the gateway's own (it has none for this model)
    const tokens = (u: OpenAI.CompletionUsage | undefined) => ({ prompt: u?.prompt_tokens, completion: u?.completion_tokens, cached: u?.prompt_tokens_details?.cached_tokens });
    assert.deepEqual(tokens(whole.usage), tokens(theirs.usage));
    assert.equal((whole.usage as unknown as { cost: unknown }).cost, null, "unpriced: null, never 0");
    const stream = await openai.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, storiesReference());
    assert.deepEqual(tokens(usage), tokens(theirs.usage));
  });

  it("the Anthropic SDK in front of the OpenAI-compatible upstream: same text, usage translated", async () => {
    const theirs = await direct.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "Tell me about the sea." }], max_tokens: 12, temperature: 0 });
    // greedy: this SDK's types no longer list temperature, but it sends the body as given
    const ask = { model: "chat", max_tokens: 12, temperature: 0, messages: [{ role: "user" as const, content: "Tell me about the sea." }] };
    const m = await anthropic.messages.create(ask);
    assert.equal(m.content[0]!.type === "text" ? m.content[0]!.text : "", theirs.choices[0]!.message.content);
    assert.equal(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), theirs.usage!.prompt_tokens);
    assert.equal(m.usage.output_tokens, theirs.usage!.completion_tokens);
    const streamed = await anthropic.messages.stream(ask).finalMessage();
    assert.deepEqual(streamed.content, m.content);
    assert.equal(streamed.usage.output_tokens, theirs.usage!.completion_tokens);
  });

  it("an OpenAI client in front of an Anthropic-protocol upstream: same text and usage, tools both ways", async () => {
    const ask = { messages: [{ role: "user" as const, content: "Tell me about the sea." }], max_tokens: 12, temperature: 0 };
    const theirs = await direct.chat.completions.create({ ...ask, model: CHAT });
    const r = await openai.chat.completions.create({ ...ask, model: "chat-via-messages" });
    assert.equal(r.choices[0]!.message.content, theirs.choices[0]!.message.content);
    assert.equal(r.usage!.prompt_tokens, theirs.usage!.prompt_tokens);
    assert.equal(r.usage!.completion_tokens, theirs.usage!.completion_tokens);
    const tools: OpenAI.ChatCompletionTool[] = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"] } } }];
    for (const model of ["chat", "chat-via-messages"]) {
      const call = await openai.chat.completions.create({ model, messages: [{ role: "user", content: "Weather in Oslo?" }], max_tokens: 60, tools, tool_choice: { type: "function", function: { name: "get_weather" } } });
      const c = call.choices[0]!;
      assert.equal(c.finish_reason, "tool_calls", model);
      const fn = c.message.tool_calls?.[0];
      assert.ok(fn?.type === "function" && fn.function.name === "get_weather", `${model}: ${JSON.stringify(c.message)}`);
      assert.equal(typeof JSON.parse(fn.function.arguments).city, "string");
    }
  });

  it("embeddings through the gateway equal the upstream's", async () => {
    const theirs = await direct.embeddings.create({ model: CHAT, input: ["hello", "the sea"] });
    const ours = await openai.embeddings.create({ model: "chat", input: ["hello", "the sea"] });
    assert.deepEqual(ours.data.map((d) => d.embedding), theirs.data.map((d) => d.embedding));
    assert.equal(ours.usage.prompt_tokens, theirs.usage.prompt_tokens);
  });

  it("a local model beside the upstream ones; /v1/models lists them all", async () => {
    const r = await openai.completions.create({ model: "small", prompt: "", max_tokens: 200, temperature: 0 });
    assert.equal(r.choices[0]!.text, storiesReference());
    const models = (await openai.models.list()).data.map((m) => m.id);
    assert.deepEqual(models, ["big", "chat", "chat-via-messages", "small"]);
  });

  it("the upstream's 400 passes through with its message; its key is sent and never shown", async () => {
    // the upstream's vocabulary has 512 tokens: only it can know this bias is out of range
    const r = await fetch(`${gateway.base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "big", prompt: "x", max_tokens: 1, logit_bias: { "9999": 1 } }) });
    const body = await r.text();
    assert.equal(r.status, 400, body);
    assert.match(JSON.parse(body).error.message, /logit_bias/);
    assert.doesNotMatch(body + gateway.stderr(), new RegExp(KEY));
  });
});
