/**
 * OpenAI's wire shapes as an upstream sees them: the neutral request as a chat or text
 * completion body, and the stream chunks coming back (every field optional: upstreams differ).
 */
import type { ProviderRequest } from "../provider.js";

/** The body of /chat/completions or /completions for `req`: streamed with usage, unless `stream` is false. */
export function openAiBody(req: ProviderRequest, stream = true): Record<string, unknown> {
  const s = req.sampling;
  const body: Record<string, unknown> = {
    model: req.model,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    ...(s.topP !== undefined ? { top_p: s.topP } : {}),
    ...(s.presencePenalty !== undefined ? { presence_penalty: s.presencePenalty } : {}),
    ...(s.frequencyPenalty !== undefined ? { frequency_penalty: s.frequencyPenalty } : {}),
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    ...(s.logitBias !== undefined ? { logit_bias: s.logitBias } : {}),
    // vLLM's and llama.cpp's extensions, sent only when asked for (OpenAI itself refuses them)
    ...(s.topK !== undefined ? { top_k: s.topK } : {}),
    ...(s.minP !== undefined ? { min_p: s.minP } : {}),
    ...(s.repetitionPenalty !== undefined ? { repetition_penalty: s.repetitionPenalty } : {}),
    ...(req.extensions?.ignoreEos !== undefined ? { ignore_eos: req.extensions.ignoreEos } : {}),
    ...(req.extensions?.priority !== undefined ? { priority: req.extensions.priority } : {}),
    ...(req.stop !== undefined ? { stop: req.stop } : {}),
    ...(req.n !== 1 ? { n: req.n } : {}),
  };
  if (req.input.kind === "chat") {
    body.messages = req.input.messages.map((m) => ({
      role: m.role,
      content: m.role === "assistant" && m.tool_calls !== undefined && m.content === "" ? null : m.content,
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.tool_calls !== undefined ? { tool_calls: m.tool_calls } : {}),
      ...(m.tool_call_id !== undefined ? { tool_call_id: m.tool_call_id } : {}),
    }));
    if (req.logprobs !== undefined) Object.assign(body, { logprobs: true, top_logprobs: req.logprobs });
    if (req.tools !== undefined) body.tools = req.tools;
    if (req.toolChoice !== undefined) body.tool_choice = req.toolChoice;
    if (req.responseFormat !== undefined) body.response_format = wireFormat(req.responseFormat);
  } else {
    body.prompt = req.input.prompt;
    if (req.input.echo) body.echo = true;
    if (req.logprobs !== undefined) body.logprobs = req.logprobs;
    if (req.responseFormat !== undefined) body.response_format = wireFormat(req.responseFormat);
  }
  return body;
}

function wireFormat(f: NonNullable<ProviderRequest["responseFormat"]>): unknown {
  switch (f.type) {
    case "text":
    case "json_object":
      return { type: f.type };
    case "json_schema":
      return { type: "json_schema", json_schema: { name: f.name ?? "response", ...(f.schema !== undefined ? { schema: f.schema } : {}), ...(f.strict !== undefined ? { strict: f.strict } : {}) } };
  }
}

/** A whole chat or text completion, as loosely as upstreams send it. */
export interface OpenAiCompletion {
  choices?: {
    index?: number;
    text?: string | null;
    message?: { content?: string | null; tool_calls?: { id?: string; function?: { name?: string; arguments?: string } }[] | null } | null;
    logprobs?: NonNullable<NonNullable<OpenAiChunk["choices"]>[number]["logprobs"]>;
    finish_reason?: string | null;
  }[];
  usage?: OpenAiChunk["usage"];
}

/** A streamed chunk of a chat or text completion, as loosely as upstreams send it. */
export interface OpenAiChunk {
  choices?: {
    index?: number;
    text?: string | null;
    delta?: {
      content?: string | null;
      tool_calls?: { index?: number; id?: string | null; function?: { name?: string | null; arguments?: string | null } }[] | null;
    } | null;
    logprobs?: {
      content?: { token?: string; logprob?: number; top_logprobs?: { token?: string; logprob?: number }[] }[] | null;
      tokens?: string[];
      token_logprobs?: (number | null)[];
      top_logprobs?: (Record<string, number> | null)[];
    } | null;
    finish_reason?: string | null;
  }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
    completion_tokens_details?: { reasoning_tokens?: number } | null;
  } | null;
}
