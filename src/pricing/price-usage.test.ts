/**
 * One test per usage shape, each priced by hand from the table's numbers (USD per 1M tokens, so
 * tokens x rate is micro-dollars), and one per bug class the gateways are known for. Hosted
 * usage comes through the real providers' stream parsing where the shape is a wire format.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AnthropicProvider } from "../providers/anthropic/anthropic-provider.js";
import { OpenAiProvider } from "../providers/openai/openai-provider.js";
import type { Provider, ProviderRequest, Usage } from "../providers/provider.js";
import type { UpstreamClient } from "../providers/upstream-client.js";
import { emptyUsage } from "../providers/usage.js";
import { DEFAULT_MACHINE_USD_PER_HOUR, resolveModelPrice, type Price } from "./price-config.js";
import { priceUsage, sumCosts, type Cost } from "./price-usage.js";
import { priceTable } from "./table.js";

const table = priceTable();
const priceOf = (model: string, price?: Parameters<typeof resolveModelPrice>[0]["price"]): Price => {
  const p = resolveModelPrice({ provider: "up", model, ...(price !== undefined ? { price } : {}) }, table).price;
  assert.ok(p, `${model} has a price`);
  return p;
};
const usage = (model: string, u: Partial<Usage>): Usage => ({ ...emptyUsage("up", model), ...u });
/** Micro-dollars as dollars, written the way the test computes them by hand. */
const micro = (n: number) => n / 1_000_000;

/** An upstream that answers every POST with these server-sent events (no sockets: the providers' parsing is what is tested). */
function streaming(events: { event?: string; data: unknown }[]): UpstreamClient {
  return {
    async post() {
      return {
        status: 200,
        json: async () => {
          throw new Error("this upstream only streams");
        },
        async *sse() {
          for (const e of events) yield { ...(e.event !== undefined ? { event: e.event } : {}), data: typeof e.data === "string" ? e.data : JSON.stringify(e.data) };
        },
      };
    },
    async close() {},
  };
}

async function usageOf(provider: Provider, model: string): Promise<Usage> {
  const req: ProviderRequest = { id: "r1", model, input: { kind: "chat", messages: [{ role: "user", content: "hi" }] }, sampling: {}, n: 1, signal: new AbortController().signal };
  let out: Usage | undefined;
  for await (const ev of provider.generate(req)) if (ev.type === "usage") out = ev.usage;
  assert.ok(out, "the provider ended with a usage record");
  return out;
}

/** OpenAI's stream: content chunks, then a last chunk with no choices and the whole usage. */
function openAiStream(u: object | undefined) {
  const chunk = (delta: object, finish: string | null = null) => ({ data: { id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] } });
  return [chunk({ role: "assistant", content: "Hel" }), chunk({ content: "lo" }), chunk({}, "stop"), ...(u !== undefined ? [{ data: { id: "c", choices: [], usage: u } }] : []), { data: "[DONE]" }];
}

/** Anthropic's stream: message_start carries the prompt's usage, message_delta the output's. */
function anthropicStream(start: object, delta: object) {
  return [
    { event: "message_start", data: { type: "message_start", message: { id: "m", usage: start } } },
    { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: delta } },
    { event: "message_stop", data: { type: "message_stop" } },
  ];
}

function assertPriced(c: Cost, usd: number) {
  assert.equal(c.usd, usd);
  assert.equal(Number(c.usdExact), usd);
  assert.deepEqual(c.warnings, []);
}

describe("priceUsage: one test per usage shape", () => {
  // gpt-4o: input 2.5, cached 1.25, output 10
  // 2000 prompt tokens of which 1500 cached, 300 output: 500*2.5 + 1500*1.25 + 300*10 = 1250 + 1875 + 3000 = 6125 micro-dollars
  const OPENAI_USD = 0.006125;

  it("OpenAI: cached_tokens are inside prompt_tokens (normalized record)", () => {
    const c = priceUsage(usage("gpt-4o-2024-08-06", { inputTokens: 2000, cachedInputTokens: 1500, outputTokens: 300 }), priceOf("gpt-4o-2024-08-06"));
    assertPriced(c, OPENAI_USD);
    assert.deepEqual([c.parts.input?.tokens, c.parts.cached_input?.tokens, c.parts.output?.tokens], [500, 1500, 300]);
    assert.deepEqual([c.parts.input?.usd, c.parts.cached_input?.usd, c.parts.output?.usd], [micro(1250), micro(1875), micro(3000)]);
    assert.equal(c.savedUsd, micro(1500 * (2.5 - 1.25)));
  });

  it("OpenAI through its provider: usage in the stream's last chunk, same record, same price", async () => {
    const raw = { prompt_tokens: 2000, completion_tokens: 300, total_tokens: 2300, prompt_tokens_details: { cached_tokens: 1500 } };
    const u = await usageOf(new OpenAiProvider({ name: "oa", client: streaming(openAiStream(raw)) }), "gpt-4o-2024-08-06");
    assert.deepEqual([u.inputTokens, u.cachedInputTokens, u.outputTokens, u.estimated], [2000, 1500, 300, false]);
    assertPriced(priceUsage(u, priceOf("gpt-4o-2024-08-06")), OPENAI_USD);
  });

  // claude-sonnet-4-5: input 3, read 0.3, write 5 m 3.75, write 1 h 6, output 15
  // raw: input_tokens 100 (uncached only), cache_read 5000, cache_creation 2000 (1500 for 5 m, 500 for 1 h), output 400
  // 100*3 + 5000*0.3 + 1500*3.75 + 500*6 + 400*15 = 300 + 1500 + 5625 + 3000 + 6000 = 16425 micro-dollars
  const ANTHROPIC_USD = 0.016425;
  const anthropicRecord = { inputTokens: 7100, cachedInputTokens: 5000, cacheWriteTokens: 2000, cacheWrite1hTokens: 500, outputTokens: 400 };

  it("Anthropic: the normalized record (inputTokens = input + reads + writes), 5-minute and 1-hour writes", () => {
    const c = priceUsage(usage("claude-sonnet-4-5-20250929", anthropicRecord), priceOf("claude-sonnet-4-5-20250929"));
    assertPriced(c, ANTHROPIC_USD);
    assert.deepEqual(
      [c.parts.input?.tokens, c.parts.cached_input?.tokens, c.parts.cache_write?.tokens, c.parts.cache_write_1h?.tokens, c.parts.output?.tokens],
      [100, 5000, 1500, 500, 400],
    );
    assert.equal(c.parts.cache_write?.usd, micro(5625));
    assert.equal(c.parts.cache_write_1h?.usd, micro(3000));
  });

  it("Anthropic through its provider: raw input_tokens EXCLUDE cache reads and writes", async () => {
    const start = { input_tokens: 100, cache_read_input_tokens: 5000, cache_creation_input_tokens: 2000, cache_creation: { ephemeral_5m_input_tokens: 1500, ephemeral_1h_input_tokens: 500 }, output_tokens: 1 };
    const u = await usageOf(new AnthropicProvider({ name: "an", client: streaming(anthropicStream(start, { output_tokens: 400 })) }), "claude-sonnet-4-5-20250929");
    assert.deepEqual(
      [u.inputTokens, u.cachedInputTokens, u.cacheWriteTokens, u.cacheWrite1hTokens, u.outputTokens],
      [anthropicRecord.inputTokens, anthropicRecord.cachedInputTokens, anthropicRecord.cacheWriteTokens, anthropicRecord.cacheWrite1hTokens, anthropicRecord.outputTokens],
    );
    assertPriced(priceUsage(u, priceOf("claude-sonnet-4-5-20250929")), ANTHROPIC_USD);
  });

  it("reasoning tokens: part of the output, at the reasoning rate (the output rate unless set)", () => {
    // o4-mini: input 1.1, output 4.4; 1000 prompt, 5000 output of which 4000 reasoning
    // 1000*1.1 + 1000*4.4 + 4000*4.4 = 1100 + 4400 + 17600 = 23100 micro-dollars
    const u = usage("o4-mini", { inputTokens: 1000, outputTokens: 5000, reasoningTokens: 4000 });
    assertPriced(priceUsage(u, priceOf("o4-mini")), 0.0231);
    // with reasoning at 2 (a config override): 1100 + 4400 + 4000*2 = 13500: reasoning is not also billed as output
    const c = priceUsage(u, priceOf("o4-mini", { reasoning: 2 }));
    assertPriced(c, 0.0135);
    assert.deepEqual([c.parts.output?.tokens, c.parts.reasoning?.tokens], [1000, 4000]);
  });

  it("a long-context tier bills the WHOLE request at its rates once the prompt exceeds the threshold", () => {
    const sonnet = priceOf("claude-sonnet-4-5");
    // 200000 exactly is not past it: 200000*3 + 1000*15 = 600000 + 15000 micro-dollars
    const at = priceUsage(usage("claude-sonnet-4-5", { inputTokens: 200_000, outputTokens: 1000 }), sonnet);
    assertPriced(at, 0.615);
    assert.equal(at.tier, undefined);
    // 250000: 250000*6 + 1000*22.5 = 1500000 + 22500
    const past = priceUsage(usage("claude-sonnet-4-5", { inputTokens: 250_000, outputTokens: 1000 }), sonnet);
    assertPriced(past, 1.5225);
    assert.equal(past.tier, 200_000);
    // cache reads count toward the prompt's size, and are billed at the tier's read rate:
    // 150000*6 + 60000*0.6 + 1000*22.5 = 900000 + 36000 + 22500
    assertPriced(priceUsage(usage("claude-sonnet-4-5", { inputTokens: 210_000, cachedInputTokens: 60_000, outputTokens: 1000 }), sonnet), 0.9585);
    // gemini-2.5-pro past 200k: input 2.5, output 15: 300000*2.5 + 2000*15 = 750000 + 30000
    assertPriced(priceUsage(usage("gemini-2.5-pro", { inputTokens: 300_000, outputTokens: 2000 }), priceOf("gemini-2.5-pro")), 0.78);
  });

  it("a model with no price costs null with a warning, never 0", () => {
    const c = priceUsage(usage("my-finetune", { inputTokens: 1000, outputTokens: 100 }), undefined);
    assert.equal(c.usd, null);
    assert.equal(c.usdExact, null);
    assert.equal(c.savedUsd, null);
    assert.match(c.warnings.join("\n"), /no price for up\/my-finetune: cost unknown \(not \$0\)/);
    const total = sumCosts([c, priceUsage(usage("gpt-4o", { inputTokens: 1000 }), priceOf("gpt-4o"))]);
    assert.deepEqual([total.usd, total.priced, total.unpriced], [0.0025, 1, 1]);
  });

  it("local: compute time at the machine's hour, and the compute a prefix-cache hit saved", () => {
    const local = (ms: number, savedMs: number): Usage => ({ ...emptyUsage("local", "small"), inputTokens: 900, cachedInputTokens: 600, outputTokens: 50, compute: { ms, savedMs } });
    const byDefault = resolveModelPrice({ provider: "local", model: "small" }, table).price!;
    assert.deepEqual(byDefault, { kind: "compute", usdPerHour: DEFAULT_MACHINE_USD_PER_HOUR, source: byDefault.kind === "compute" ? byDefault.source : "" });
    // 1800 ms of $0.126/h: 1800 / 3600000 * 0.126 = 0.0005 * 0.126; saved 900 ms: half of it
    const c = priceUsage(local(1800, 900), byDefault);
    assertPriced(c, 0.000063);
    assert.equal(c.savedUsd, 0.0000315);
    assert.deepEqual(c.parts.compute, { kind: "compute", ms: 1800, usdPerHour: 0.126, usd: 0.000063, usdExact: "0.000063" });
    // a measured time to the microsecond, at $0.36/h (1e-7 dollars a millisecond): 12345.678 * 1e-7
    const own = resolveModelPrice({ provider: "local", model: "small", price: { machine_usd_per_hour: 0.36 } }, table).price!;
    const m = priceUsage(local(12345.678, 0.5), own);
    assertPriced(m, 0.0012345678);
    assert.equal(m.savedUsd, 0.00000005);
    // a local record without compute figures is unknown, not free
    const none = priceUsage({ ...emptyUsage("local", "small"), inputTokens: 10 }, own);
    assert.equal(none.usd, null);
    assert.match(none.warnings[0]!, /priced by compute time, but its usage has none/);
  });
});

describe("priceUsage: the gateways' known bug classes", () => {
  it("cache writes are not billed twice (as input and as writes)", () => {
    // claude-haiku-4-5: input 1, write 1.25; 10000 prompt tokens, all written to the cache, 0 output
    // right: 10000*1.25 = 12500 micro-dollars; billed twice would be 10000*1 + 10000*1.25 = 22500
    const c = priceUsage(usage("claude-haiku-4-5", { inputTokens: 10_000, cacheWriteTokens: 10_000 }), priceOf("claude-haiku-4-5"));
    assertPriced(c, 0.0125);
    assert.equal(c.parts.input?.tokens, 0);
  });

  it("cache reads are not billed as input when streaming (Anthropic's message_delta repeats its fields as null)", async () => {
    // claude-sonnet-4-5: 200 uncached + 8000 read, 100 output: 200*3 + 8000*0.3 + 100*15 = 600 + 2400 + 1500 = 4500
    // billed as input the reads would be 200*3 + 8000*3 + 1500 = 26100
    const start = { input_tokens: 200, cache_read_input_tokens: 8000, cache_creation_input_tokens: 0, output_tokens: 1 };
    const delta = { output_tokens: 100, input_tokens: null, cache_read_input_tokens: null, cache_creation_input_tokens: null };
    const u = await usageOf(new AnthropicProvider({ name: "an", client: streaming(anthropicStream(start, delta)) }), "claude-sonnet-4-5");
    assertPriced(priceUsage(u, priceOf("claude-sonnet-4-5")), 0.0045);
    // and the newer API's message_delta with the cumulative counts gives the same bill
    const cumulative = { output_tokens: 100, input_tokens: 200, cache_read_input_tokens: 8000, cache_creation_input_tokens: 0 };
    const v = await usageOf(new AnthropicProvider({ name: "an", client: streaming(anthropicStream(start, cumulative)) }), "claude-sonnet-4-5");
    assertPriced(priceUsage(v, priceOf("claude-sonnet-4-5")), 0.0045);
  });

  it("streamed requests are not logged at $0: usage in the last chunk is priced, and a stream without usage is estimated and says so", async () => {
    // gpt-4o-mini: input 0.15, output 0.6; 1200 prompt, 80 output: 1200*0.15 + 80*0.6 = 180 + 48 = 228 micro-dollars
    const raw = { prompt_tokens: 1200, completion_tokens: 80, total_tokens: 1280 };
    const u = await usageOf(new OpenAiProvider({ name: "oa", client: streaming(openAiStream(raw)) }), "gpt-4o-mini");
    assertPriced(priceUsage(u, priceOf("gpt-4o-mini")), 0.000228);
    const guessed = await usageOf(new OpenAiProvider({ name: "oa", client: streaming(openAiStream(undefined)) }), "gpt-4o-mini");
    const c = priceUsage(guessed, priceOf("gpt-4o-mini"));
    assert.ok(c.usd !== null && c.usd > 0, `an estimate, not $0: ${c.usd}`);
    // "hi" is 1 token by the 4-characters rule, "Hello" 1: 1*0.15 + 1*0.6 = 0.75 micro-dollars
    assert.equal(c.usd, 0.00000075);
    assert.match(c.warnings.join("\n"), /inferd's estimate/);
  });

  it("cached tokens are counted once: neither subtracted twice nor added on top of prompt_tokens", () => {
    // the OpenAI case again: 6125 micro-dollars; subtracted twice (500 - 1500 -> 0 uncached) gives 4875,
    // added twice (2000 at input + 1500 at cached) gives 9875
    const c = priceUsage(usage("gpt-4o", { inputTokens: 2000, cachedInputTokens: 1500, outputTokens: 300 }), priceOf("gpt-4o"));
    assertPriced(c, 0.006125);
    assert.notEqual(c.usd, 0.004875);
    assert.notEqual(c.usd, 0.009875);
    assert.equal(c.parts.input!.tokens + c.parts.cached_input!.tokens, 2000);
  });
});

describe("priceUsage: numbers that do not add up, and rates a row lacks", () => {
  it("clamps uncached input at 0 and warns when the parts exceed the total (raw Anthropic input_tokens passed as the total)", () => {
    // claude-sonnet-4-5: the parts are billed as itemized: 5000*0.3 + 2000*3.75 + 400*15 = 1500 + 7500 + 6000 = 15000
    const c = priceUsage(usage("claude-sonnet-4-5", { inputTokens: 100, cachedInputTokens: 5000, cacheWriteTokens: 2000, outputTokens: 400 }), priceOf("claude-sonnet-4-5"));
    assert.equal(c.usd, 0.015);
    assert.equal(c.parts.input?.tokens, 0);
    assert.match(c.warnings.join("\n"), /5000 cached and 2000 cache-write tokens of 100 input tokens: uncached input counted as 0/);
  });

  it("clamps 1-hour writes to the writes and reasoning to the output, with warnings", () => {
    const c = priceUsage(usage("claude-sonnet-4-5", { inputTokens: 1000, cacheWriteTokens: 1000, cacheWrite1hTokens: 5000, outputTokens: 10, reasoningTokens: 20 }), priceOf("claude-sonnet-4-5"));
    // 1000 written for 1 h at 6, 10 output (as reasoning, at 15): 6000 + 150
    assert.equal(c.usd, 0.00615);
    assert.equal(c.warnings.length, 2);
  });

  it("bills cached tokens at the input rate when the row has no cached rate, and says so", () => {
    // gpt-5-pro: input 15, output 120, no cached rate: 1000 prompt (400 "cached") + 10 output = 15000 + 1200
    const c = priceUsage(usage("gpt-5-pro", { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 10 }), priceOf("gpt-5-pro"));
    assert.equal(c.usd, 0.0162);
    assert.equal(c.savedUsd, 0);
    assert.deepEqual(c.warnings, ["no cached-input rate: 400 cached tokens billed at the input rate"]);
  });

  it("sums many requests exactly: 100000 requests of 1 micro-dollar are $0.1", () => {
    // gpt-4.1-nano: 10 input tokens at 0.1 = 1 micro-dollar each
    const p = priceOf("gpt-4.1-nano");
    const costs = Array.from({ length: 100_000 }, () => priceUsage(usage("gpt-4.1-nano", { inputTokens: 10 }), p));
    assert.equal(costs[0]!.usd, 0.000001);
    const naive = costs.reduce((s, c) => s + c.usd!, 0);
    assert.notEqual(naive, 0.1, "adding the floats drifts");
    assert.equal(sumCosts(costs).usd, 0.1);
    assert.equal(sumCosts(costs).usdExact, "0.1");
  });
});
