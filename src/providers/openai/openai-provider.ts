/**
 * An OpenAI-compatible upstream as a Provider: OpenAI itself and whatever speaks its API (vLLM,
 * SGLang, llama-server, Ollama, another inferd). Requests are always streamed upstream, with
 * `stream_options.include_usage`, so the first token reaches the client as soon as it exists
 * and the usage arrives in the last chunk; a client that asked for a whole answer gets the
 * stream aggregated by the protocol writer.
 */
import { InferdError } from "../../util/errors.js";
import type { EmbeddingRequest, EmbeddingResult, FinishReason, Provider, ProviderEvent, ProviderRequest, Usage } from "../provider.js";
import { emptyUsage, estimateTokens } from "../usage.js";
import type { UpstreamClient } from "../upstream-client.js";
import { openAiBody, type OpenAiChunk, type OpenAiCompletion } from "./openai-wire.js";

export interface OpenAiProviderOptions {
  name: string;
  client: UpstreamClient;
  /** Context windows of the upstream's models, when the config says them. */
  contextWindows?: Record<string, number>;
  /** Token counters of the upstream's models (their tokenizer, from a local model), for usage the upstream does not report. */
  tokenizers?: Record<string, (text: string) => Promise<number>>;
}

export class OpenAiProvider implements Provider {
  readonly name: string;
  private readonly client: UpstreamClient;

  constructor(private readonly opts: OpenAiProviderOptions) {
    this.name = opts.name;
    this.client = opts.client;
  }

  async *generate(req: ProviderRequest): AsyncGenerator<ProviderEvent> {
    if (req.stream === false) {
      yield* this.whole(req);
      return;
    }
    const t0 = performance.now();
    const chat = req.input.kind === "chat";
    const res = await this.client.post(chat ? "/chat/completions" : "/completions", openAiBody(req), { signal: req.signal, stream: true, headers: { "x-request-id": req.id } });
    const finished = new Map<number, FinishReason>();
    let usage: Usage | undefined;
    let output = "";
    let firstToken: number | undefined;
    let done = false;
    try {
      for await (const ev of res.sse({ isFinal: (e) => e.data === "[DONE]" })) {
        if (ev.data === "[DONE]") {
          done = true;
          continue;
        }
        const chunk = parseChunk(ev.data, this.name);
        if (chunk.usage != null) usage = this.usage(req, chunk.usage, t0, firstToken);
        for (const c of chunk.choices ?? []) {
          const choice = c.index ?? 0;
          const text = chat ? c.delta?.content : c.text;
          const logprobs = chat ? chatEntries(c.logprobs) : textEntries(c.logprobs);
          if ((text != null && text.length > 0) || logprobs !== undefined) {
            firstToken ??= performance.now();
            output += text ?? "";
            yield { type: "text", choice, text: text ?? "", ...(logprobs !== undefined ? { logprobs } : {}) };
          }
          for (const call of c.delta?.tool_calls ?? []) {
            firstToken ??= performance.now();
            output += call.function?.arguments ?? "";
            yield {
              type: "tool_call",
              choice,
              index: call.index ?? 0,
              ...(call.id != null ? { id: call.id } : {}),
              ...(call.function?.name != null ? { name: call.function.name } : {}),
              arguments: call.function?.arguments ?? "",
            };
          }
          // a finish is reported once the stream is known whole ([DONE]): a stream cut after
          // its finish_reason must not look complete to the client
          if (c.finish_reason != null && !finished.has(choice)) finished.set(choice, finishReason(c.finish_reason));
        }
      }
    } catch (e) {
      if (!req.signal.aborted) throw e;
    }
    if (!done && !req.signal.aborted) throw new InferdError("upstream", `${this.name} ended its stream without [DONE]`, { status: 502, code: "upstream_incomplete" });
    // aborted (the client left, or shutdown): each open choice ends so, and the usage still counts
    for (let i = 0; i < req.n; i++) yield { type: "finish", choice: i, reason: finished.get(i) ?? (req.signal.aborted ? "abort" : "stop") };
    yield { type: "usage", usage: usage ?? (await this.estimate(req, output, t0, firstToken)) };
  }

  /** A client that reads no stream: the upstream's whole answer, as the same events. */
  private async *whole(req: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const t0 = performance.now();
    const chat = req.input.kind === "chat";
    const res = await this.client.post(chat ? "/chat/completions" : "/completions", openAiBody(req, false), { signal: req.signal, headers: { "x-request-id": req.id } });
    const j = (await res.json()) as OpenAiCompletion & { error?: { message?: string } };
    if (!Array.isArray(j.choices)) throw new InferdError("upstream", `${this.name} answered without choices${j.error?.message ? `: ${j.error.message}` : ""}`, { status: 502, code: "upstream_bad_response" });
    const end = performance.now();
    let output = "";
    for (const c of j.choices) {
      const choice = c.index ?? 0;
      const text = chat ? c.message?.content : c.text;
      const logprobs = chat ? chatEntries(c.logprobs) : textEntries(c.logprobs);
      if ((text != null && text.length > 0) || logprobs !== undefined) {
        output += text ?? "";
        yield { type: "text", choice, text: text ?? "", ...(logprobs !== undefined ? { logprobs } : {}) };
      }
      for (const [index, call] of (c.message?.tool_calls ?? []).entries()) {
        output += call.function?.arguments ?? "";
        yield { type: "tool_call", choice, index, ...(call.id !== undefined ? { id: call.id } : {}), name: call.function?.name ?? "", arguments: call.function?.arguments ?? "" };
      }
      yield { type: "finish", choice, reason: finishReason(c.finish_reason ?? "stop") };
    }
    // the first token came with the whole answer
    yield { type: "usage", usage: j.usage != null ? this.usage(req, j.usage, t0, end) : await this.estimate(req, output, t0, end) };
  }

  async embed(req: EmbeddingRequest): Promise<EmbeddingResult> {
    const t0 = performance.now();
    const body = { model: req.model, input: req.inputs, ...(req.dimensions !== undefined ? { dimensions: req.dimensions } : {}) };
    const res = await this.client.post("/embeddings", body, { signal: req.signal, headers: { "x-request-id": req.id } });
    const j = (await res.json()) as { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
    if (!Array.isArray(j.data)) throw new InferdError("upstream", `${this.name} answered embeddings without data`, { status: 502 });
    const vectors = [...j.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).map((d) => {
      if (!Array.isArray(d.embedding)) throw new InferdError("upstream", `${this.name} sent an embedding that is not an array of numbers`, { status: 502 });
      return d.embedding as number[];
    });
    const reported = j.usage?.prompt_tokens;
    const inputTokens = reported ?? req.inputs.reduce((s, i) => s + (typeof i === "string" ? estimateTokens(i) : i.length), 0);
    return { vectors, usage: { ...emptyUsage(this.name, req.model), inputTokens, estimated: reported === undefined, timing: { queuedMs: 0, firstTokenMs: undefined, totalMs: performance.now() - t0 } } };
  }

  circuit(): "closed" | "open" | "half-open" {
    return this.client.circuitState ?? "closed";
  }

  contextWindow(model: string): number | undefined {
    return this.opts.contextWindows?.[model];
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /** OpenAI's usage: prompt_tokens INCLUDES cached_tokens; completion_tokens includes reasoning_tokens. */
  private usage(req: ProviderRequest, u: NonNullable<OpenAiChunk["usage"]>, t0: number, firstToken: number | undefined): Usage {
    return {
      ...emptyUsage(this.name, req.model),
      inputTokens: u.prompt_tokens ?? 0,
      cachedInputTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
      outputTokens: u.completion_tokens ?? 0,
      reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
      timing: { queuedMs: 0, firstTokenMs: firstToken === undefined ? undefined : firstToken - t0, totalMs: performance.now() - t0 },
    };
  }

  /**
   * No usage from the upstream: counted here, and marked so: with the model's own tokenizer when
   * the config names one (`tokenizer:` a local model with the same vocabulary), else by length.
   */
  private async estimate(req: ProviderRequest, output: string, t0: number, firstToken: number | undefined): Promise<Usage> {
    const input = req.input.kind === "chat" ? req.input.messages.map((m) => m.content).join("\n") : req.input.prompt;
    const count = this.opts.tokenizers?.[req.model];
    const tokens = async (text: string) => (count !== undefined ? count(text) : estimateTokens(text));
    return {
      ...emptyUsage(this.name, req.model),
      inputTokens: typeof input === "string" ? await tokens(input) : input.length,
      outputTokens: output.length === 0 ? 0 : await tokens(output),
      estimated: true,
      timing: { queuedMs: 0, firstTokenMs: firstToken === undefined ? undefined : firstToken - t0, totalMs: performance.now() - t0 },
    };
  }
}

function parseChunk(data: string, name: string): OpenAiChunk {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new InferdError("upstream", `${name} sent a malformed stream chunk`, { status: 502, code: "upstream_malformed" });
  }
  if (typeof chunk !== "object" || chunk === null) throw new InferdError("upstream", `${name} sent a malformed stream chunk`, { status: 502, code: "upstream_malformed" });
  const err = (chunk as { error?: { message?: unknown } }).error;
  if (err !== undefined) {
    throw new InferdError("upstream", `${name} failed mid-stream: ${typeof err.message === "string" ? err.message : "unknown error"}`, { status: 502 });
  }
  return chunk as OpenAiChunk;
}

function finishReason(r: string): FinishReason {
  switch (r) {
    case "length":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool_calls";
    case "content_filter":
      return "content_filter";
    case "abort":
      return "abort";
    default:
      return "stop";
  }
}

type Logprobs = NonNullable<NonNullable<OpenAiChunk["choices"]>[number]["logprobs"]>;

function chatEntries(lp: Logprobs | null | undefined) {
  const content = lp?.content;
  if (!Array.isArray(content)) return undefined;
  return content.map((c) => ({ text: c.token ?? "", logprob: c.logprob ?? 0, top: (c.top_logprobs ?? []).map((t) => ({ text: t.token ?? "", logprob: t.logprob ?? 0 })) }));
}

function textEntries(lp: Logprobs | null | undefined) {
  const tokens = lp?.tokens;
  if (!Array.isArray(tokens)) return undefined;
  return tokens.map((t, i) => ({
    text: t,
    logprob: lp?.token_logprobs?.[i] ?? 0,
    top: Object.entries(lp?.top_logprobs?.[i] ?? {}).map(([text, logprob]) => ({ text, logprob })),
  }));
}
