/**
 * OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings. Each
 * handler turns the request into a prompt and engine parameters; `respond` (openai-respond.ts)
 * writes the answer, streamed or whole.
 */
import type { Context } from "hono";
import type { GrammarSpec } from "../backend/backend.js";
import type { GenerateParams } from "../index.js";
import type { ChatMessage } from "./chat-template.js";
import { chatPrompt } from "./chat-prompt.js";
import { checkTokenBound } from "./bounded-tokenize.js";
import { checkFits, checkLogitBias, type ServedModel } from "./choices.js";
import { HttpError } from "./errors.js";
import { respond } from "./openai-respond.js";
import type { RequestScope } from "./request-scope.js";
import type { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "./schemas.js";
import { planTools } from "./tool-calls.js";

/** OpenAI request fields -> engine parameters. */
function params(r: ChatCompletionRequest | CompletionRequest, maxTokens: number | undefined, logprobs: number | undefined, grammar: GrammarSpec | undefined): GenerateParams {
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
    speculative: r.speculative,
    ...(grammar !== undefined ? { grammar } : {}),
  };
}

/** `response_format` -> a grammar (undefined for plain text). */
function responseGrammar(format: ChatCompletionRequest["response_format"]): GrammarSpec | undefined {
  switch (format?.type) {
    case undefined:
    case "text":
      return undefined;
    case "json_object":
      return { type: "json_object" };
    case "json_schema": {
      const schema = format.json_schema.schema;
      return schema === undefined ? { type: "json_object" } : { type: "json_schema", schema };
    }
    default:
      throw new HttpError(400, "unknown response_format type", "invalid_request_error", "response_format");
  }
}

function messageText(content: ChatCompletionRequest["messages"][number]["content"]): string {
  if (content == null) return "";
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

export async function chatCompletions(c: Context, served: ServedModel, r: ChatCompletionRequest, scope: RequestScope): Promise<Response> {
  const engine = served.engine;
  const messages: ChatMessage[] = r.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: messageText(m.content),
    ...(m.name ? { name: m.name } : {}),
    ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
  }));
  const tools = planTools(r.tools ?? [], r.tool_choice ?? undefined);
  checkLogitBias(engine, r.logit_bias);
  const { tokens: prompt, text } = await chatPrompt(served, messages, { tools: tools.offered });
  const maxTokens = r.max_completion_tokens ?? r.max_tokens ?? undefined;
  checkFits(engine, prompt.length, maxTokens, r.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens");
  const grammar = tools.grammar ?? responseGrammar(r.response_format);
  const topLogprobs = r.logprobs ? (r.top_logprobs ?? 0) : undefined;
  return respond(c, served, { kind: "chat", prompt, ...(text !== undefined ? { promptText: text } : {}), params: params(r, maxTokens, topLogprobs, grammar), request: r, tools: tools.grammar !== undefined ? "forced" : tools.offered !== undefined ? "parse" : "none" }, scope);
}

export async function completions(c: Context, served: ServedModel, r: CompletionRequest, scope: RequestScope): Promise<Response> {
  const engine = served.engine;
  checkLogitBias(engine, r.logit_bias);
  const promptText = typeof r.prompt === "string" ? r.prompt : typeof r.prompt[0] === "string" ? r.prompt[0] : undefined;
  if (promptText !== undefined) await checkTokenBound(engine, promptText, "prompt");
  const prompt = promptText !== undefined ? engine.tokenize(promptText) : (r.prompt as number[]);
  // OpenAI's default for /v1/completions is 16 tokens
  const maxTokens = r.max_tokens === null ? undefined : (r.max_tokens ?? 16);
  checkFits(engine, prompt.length, maxTokens);
  const p = params(r, maxTokens, r.logprobs ?? undefined, responseGrammar(r.response_format));
  return respond(c, served, { kind: "text", prompt, params: p, request: r, tools: "none" }, scope);
}

export async function embeddings(c: Context, served: ServedModel, r: EmbeddingRequest): Promise<Response> {
  const engine = served.engine;
  const inputs: (string | number[])[] =
    typeof r.input === "string" ? [r.input]
    : typeof r.input[0] === "number" ? [r.input as number[]]
    : (r.input as (string | number[])[]);
  // a model's vectors have one size: shortening them is meaningful only for models trained for it
  if (r.dimensions !== undefined && r.dimensions !== engine.model.embeddingSize) {
    throw new HttpError(400, `dimensions ${r.dimensions} is not supported: "${served.id}" embeds in ${engine.model.embeddingSize} dimensions`, "invalid_request_error", "dimensions");
  }
  for (const input of inputs) if (typeof input === "string") await checkTokenBound(engine, input, "input");
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
