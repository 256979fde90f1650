/**
 * OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings. Each
 * handler turns the wire request into the neutral one any provider takes; `respond`
 * (openai-respond.ts) writes the provider's events back as OpenAI's wire format.
 */
import type { Context } from "hono";
import type { ChatMessage, ProviderRequest, ResponseFormat, Sampling } from "../providers/provider.js";
import type { Api } from "./api.js";
import { HttpError } from "./errors.js";
import { costHeaders, respond } from "./openai-respond.js";
import type { RequestScope } from "./request-scope.js";
import type { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "./schemas.js";

type Common = Omit<ProviderRequest, "model" | "input">;

/** The fields chat and text completions share. */
function common(r: ChatCompletionRequest | CompletionRequest, scope: RequestScope, maxTokens: number | undefined, logprobs: number | undefined): Common {
  const sampling: Sampling = {
    temperature: r.temperature ?? undefined,
    topP: r.top_p ?? undefined,
    topK: r.top_k,
    minP: r.min_p,
    repetitionPenalty: r.repetition_penalty,
    presencePenalty: r.presence_penalty ?? undefined,
    frequencyPenalty: r.frequency_penalty ?? undefined,
    ...(r.logit_bias != null ? { logitBias: r.logit_bias } : {}),
    seed: r.seed ?? undefined,
  };
  return {
    id: scope.id,
    sampling,
    maxTokens,
    ...(r.stop != null ? { stop: typeof r.stop === "string" ? [r.stop] : r.stop } : {}),
    n: r.n ?? 1,
    logprobs,
    ...(r.response_format != null ? { responseFormat: responseFormat(r.response_format) } : {}),
    extensions: { ignoreEos: r.ignore_eos, priority: r.priority, speculative: r.speculative },
    stream: r.stream === true,
    signal: scope.signal,
  };
}

function responseFormat(f: NonNullable<ChatCompletionRequest["response_format"]>): ResponseFormat {
  switch (f.type) {
    case "text":
      return { type: "text" };
    case "json_object":
      return { type: "json_object" };
    case "json_schema":
      return { type: "json_schema", ...(f.json_schema.name !== undefined ? { name: f.json_schema.name } : {}), ...(f.json_schema.schema !== undefined ? { schema: f.json_schema.schema } : {}), ...(f.json_schema.strict != null ? { strict: f.json_schema.strict } : {}) };
    default:
      throw new HttpError(400, "unknown response_format type", "invalid_request_error", "response_format");
  }
}

function messageText(content: ChatCompletionRequest["messages"][number]["content"]): string {
  if (content == null) return "";
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

export async function chatCompletions(c: Context, api: Api, r: ChatCompletionRequest, scope: RequestScope): Promise<Response> {
  const messages: ChatMessage[] = r.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: messageText(m.content),
    ...(m.name ? { name: m.name } : {}),
    ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
  }));
  const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? undefined;
  const topLogprobs = r.logprobs ? (r.top_logprobs ?? 0) : undefined;
  const req = {
    ...common(r, scope, maxTokens, topLogprobs),
    input: { kind: "chat" as const, messages },
    ...(r.tools != null ? { tools: r.tools } : {}),
    ...(r.tool_choice != null ? { toolChoice: r.tool_choice } : {}),
  };
  const opened = await api.open(r.model, req, scope);
  return respond(c, opened, { kind: "chat", n: req.n, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true, wantLogprobs: topLogprobs !== undefined }, scope);
}

export async function completions(c: Context, api: Api, r: CompletionRequest, scope: RequestScope): Promise<Response> {
  const prompt = typeof r.prompt === "string" ? r.prompt : typeof r.prompt[0] === "string" ? r.prompt[0] : (r.prompt as number[]);
  // OpenAI's default for /v1/completions is 16 tokens
  const maxTokens = r.max_tokens === null ? undefined : (r.max_tokens ?? 16);
  const req = { ...common(r, scope, maxTokens, r.logprobs ?? undefined), input: { kind: "prompt" as const, prompt, echo: r.echo === true } };
  const opened = await api.open(r.model, req, scope);
  return respond(c, opened, { kind: "text", n: req.n, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true, wantLogprobs: r.logprobs != null }, scope);
}

export async function embeddings(c: Context, api: Api, r: EmbeddingRequest, scope: RequestScope): Promise<Response> {
  const inputs: (string | number[])[] =
    typeof r.input === "string" ? [r.input]
    : typeof r.input[0] === "number" ? [r.input as number[]]
    : (r.input as (string | number[])[]);
  const { route, result, cost } = await api.accountant.embed(scope.info, r.model, { id: scope.id, inputs, ...(r.dimensions !== undefined ? { dimensions: r.dimensions } : {}), signal: scope.signal });
  const total = result.usage.inputTokens;
  costHeaders(c, route.name, cost, 0);
  return c.json({
    object: "list",
    data: result.vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: r.encoding_format === "base64" ? Buffer.from(Float32Array.from(v).buffer).toString("base64") : v,
    })),
    model: route.name,
    usage: { prompt_tokens: total, total_tokens: total, ...(cost !== undefined ? { cost: cost.usd } : {}) },
  });
}
