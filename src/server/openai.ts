/**
 * OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings. Streams
 * exactly as OpenAI does: the same id and created on every chunk, the role in the first delta,
 * finish_reason on each choice's last chunk, an optional usage chunk with empty choices, then
 * `data: [DONE]`; an error after the stream started is sent as `data: {"error": ...}`.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { GenerateParams } from "../index.js";
import type { TokenLogprobInfo } from "../output/output-processor.js";
import { renderChat, type ChatMessage } from "./chat-template.js";
import { checkFits, generateChoices, type ServedModel, type ChoiceEvent } from "./choices.js";
import { openAiError, toApiError } from "./errors.js";
import type { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "./schemas.js";

type Usage = ReturnType<typeof usage>;

function usage(promptTokens: number, completionTokens: number, cachedTokens = 0) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

/** OpenAI request fields -> engine parameters. */
function params(r: ChatCompletionRequest | CompletionRequest, maxTokens: number | undefined, logprobs: number | undefined): GenerateParams {
  return {
    maxTokens,
    temperature: r.temperature ?? undefined,
    topP: r.top_p ?? undefined,
    topK: r.top_k,
    minP: r.min_p,
    repetitionPenalty: r.repetition_penalty,
    presencePenalty: r.presence_penalty ?? undefined,
    frequencyPenalty: r.frequency_penalty ?? undefined,
    logitBias: r.logit_bias ?? undefined,
    seed: r.seed ?? undefined,
    stop: r.stop == null ? undefined : typeof r.stop === "string" ? [r.stop] : r.stop,
    logprobs,
    ignoreEos: r.ignore_eos,
    priority: r.priority,
  };
}

function messageText(content: ChatCompletionRequest["messages"][number]["content"]): string {
  if (content == null) return "";
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

export async function chatCompletions(c: Context, served: ServedModel, r: ChatCompletionRequest): Promise<Response> {
  const engine = served.engine;
  const messages: ChatMessage[] = r.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: messageText(m.content),
    ...(m.name ? { name: m.name } : {}),
    ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
  }));
  const text = renderChat(engine.model, messages);
  const bos = engine.model.bosText;
  const prompt = engine.tokenize(text, { addBos: engine.model.addBos && !(bos && text.startsWith(bos)), special: true });
  const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? undefined;
  checkFits(engine, prompt.length, maxTokens, r.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens");
  const topLogprobs = r.logprobs ? (r.top_logprobs ?? 0) : undefined;
  const p = params(r, maxTokens, topLogprobs);
  return respond(c, served, prompt, p, r, "chat");
}

export async function completions(c: Context, served: ServedModel, r: CompletionRequest): Promise<Response> {
  const engine = served.engine;
  const prompt = typeof r.prompt === "string" ? engine.tokenize(r.prompt) : typeof r.prompt[0] === "string" ? engine.tokenize(r.prompt[0]) : (r.prompt as number[]);
  // OpenAI's default for /v1/completions is 16 tokens
  const maxTokens = r.max_tokens === null ? undefined : (r.max_tokens ?? 16);
  checkFits(engine, prompt.length, maxTokens);
  return respond(c, served, prompt, params(r, maxTokens, r.logprobs ?? undefined), r, "text");
}

type Kind = "chat" | "text";

async function respond(c: Context, served: ServedModel, prompt: number[], p: GenerateParams, r: ChatCompletionRequest | CompletionRequest, kind: Kind): Promise<Response> {
  const engine = served.engine;
  const n = r.n ?? 1;
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const ac = new AbortController();
  const choices = generateChoices(served, prompt, p, n, ac.signal)[Symbol.asyncIterator]();
  const echo = kind === "text" && (r as CompletionRequest).echo ? engine.detokenize(prompt) : "";
  // the first event surfaces request errors (overloaded, bad parameters) before any byte is sent
  const first = await choices.next();
  if (!r.stream) {
    c.req.raw.signal.addEventListener("abort", () => ac.abort(), { once: true });
    const acc = Array.from({ length: n }, () => ({ text: echo, finish: "stop", logprobs: [] as TokenLogprobInfo[], tokens: 0 }));
    for (let ev = first; !ev.done; ev = await choices.next()) {
      const e = ev.value;
      const a = acc[e.index]!;
      if (e.type === "delta") {
        a.text += e.text;
        a.tokens += e.tokens.length;
        if (e.logprobs) a.logprobs.push(...e.logprobs);
      } else a.finish = e.finishReason;
    }
    const completionTokens = acc.reduce((s, a) => s + a.tokens, 0);
    const object = kind === "chat" ? "chat.completion" : "text_completion";
    return c.json({
      id,
      object,
      created,
      model: served.id,
      system_fingerprint: null,
      choices: acc.map((a, index) =>
        kind === "chat"
          ? { index, message: { role: "assistant", content: a.text, refusal: null }, logprobs: p.logprobs === undefined ? null : { content: chatLogprobs(a.logprobs) }, finish_reason: a.finish }
          : { index, text: a.text, logprobs: p.logprobs === undefined ? null : textLogprobs(a.logprobs), finish_reason: a.finish },
      ),
      usage: usage(prompt.length, completionTokens),
    });
  }
  const includeUsage = r.stream_options?.include_usage === true;
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => ac.abort());
    const base = { id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model: served.id, system_fingerprint: null };
    const send = (choice: object | null, u?: Usage | null) =>
      stream.writeSSE({ data: JSON.stringify({ ...base, choices: choice ? [choice] : [], ...(includeUsage ? { usage: u ?? null } : {}) }) });
    let completionTokens = 0;
    const started = new Set<number>();
    try {
      for (let ev = first; !ev.done; ev = await choices.next()) {
        const e: ChoiceEvent = ev.value;
        if (kind === "chat" && !started.has(e.index)) {
          started.add(e.index);
          await send({ index: e.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
        } else if (kind === "text" && echo && !started.has(e.index)) {
          started.add(e.index);
          await send({ index: e.index, text: echo, logprobs: null, finish_reason: null });
        }
        if (e.type === "delta") {
          completionTokens += e.tokens.length;
          if (e.text.length === 0 && !e.logprobs) continue;
          const lp = p.logprobs === undefined ? null : kind === "chat" ? { content: chatLogprobs(e.logprobs ?? []) } : textLogprobs(e.logprobs ?? []);
          await send(kind === "chat" ? { index: e.index, delta: { content: e.text }, logprobs: lp, finish_reason: null } : { index: e.index, text: e.text, logprobs: lp, finish_reason: null });
        } else if (e.finishReason !== "abort") {
          await send(kind === "chat" ? { index: e.index, delta: {}, logprobs: null, finish_reason: e.finishReason } : { index: e.index, text: "", logprobs: null, finish_reason: e.finishReason });
        }
      }
      if (ac.signal.aborted) return;
      if (includeUsage) await stream.writeSSE({ data: JSON.stringify({ ...base, choices: [], usage: usage(prompt.length, completionTokens) }) });
      await stream.writeSSE({ data: "[DONE]" });
    } catch (e) {
      // never a silent 200 close: the client learns what went wrong
      await stream.writeSSE({ data: JSON.stringify(openAiError(toApiError(e))) });
      ac.abort();
    }
  });
}

function bytesOf(s: string): number[] {
  return [...Buffer.from(s, "utf8")];
}

function chatLogprobs(lps: TokenLogprobInfo[]) {
  return lps.map((l) => ({
    token: l.text,
    logprob: l.logprob,
    bytes: bytesOf(l.text),
    top_logprobs: l.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: bytesOf(t.text) })),
  }));
}

function textLogprobs(lps: TokenLogprobInfo[]) {
  let offset = 0;
  const text_offset: number[] = [];
  for (const l of lps) {
    text_offset.push(offset);
    offset += l.text.length;
  }
  return {
    tokens: lps.map((l) => l.text),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((t) => [t.text, t.logprob]))),
    text_offset,
  };
}

export async function embeddings(c: Context, served: ServedModel, r: EmbeddingRequest): Promise<Response> {
  const engine = served.engine;
  const inputs: (string | number[])[] =
    typeof r.input === "string" ? [r.input]
    : typeof r.input[0] === "number" ? [r.input as number[]]
    : (r.input as (string | number[])[]);
  const out = await engine.embed(inputs);
  const total = out.reduce((s, o) => s + o.tokens, 0);
  return c.json({
    object: "list",
    data: out.map((o, index) => ({
      object: "embedding",
      index,
      embedding: r.encoding_format === "base64" ? Buffer.from(Float32Array.from(o.embedding).buffer).toString("base64") : o.embedding,
    })),
    model: served.id,
    usage: { prompt_tokens: total, total_tokens: total },
  });
}
