/**
 * Pieces of OpenAI's response shapes shared by the streaming and non-streaming writers.
 */
import type { Priced } from "../gateway/accountant.js";
import type { LogprobEntry, Usage } from "../providers/provider.js";

/**
 * `usage` in OpenAI's convention: prompt_tokens includes the cached ones, completion_tokens the
 * reasoning ones; with prices on, `cost` in USD (OpenRouter's field; null when the model has no
 * price) and what caching saved.
 */
export function openAiUsage(u: Usage, cost?: Priced) {
  return {
    ...(cost !== undefined ? { cost: cost.usd, cost_details: { cache_saved: cost.savedUsd } } : {}),
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

function bytesOf(s: string): number[] {
  return [...Buffer.from(s, "utf8")];
}

/** Chat's `logprobs.content`. */
export function chatLogprobs(lps: readonly LogprobEntry[]) {
  return {
    content: lps.map((l) => ({
      token: l.text,
      logprob: l.logprob,
      bytes: bytesOf(l.text),
      top_logprobs: l.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: bytesOf(t.text) })),
    })),
  };
}

/** Text completions' legacy `logprobs` (parallel arrays; offsets continue from `startOffset`). */
export function textLogprobs(lps: readonly LogprobEntry[], startOffset = 0) {
  let offset = startOffset;
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
