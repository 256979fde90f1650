/**
 * Pieces of OpenAI's response shapes shared by the streaming and non-streaming writers.
 */
import type { TokenLogprobInfo } from "../output/output-processor.js";

export type Usage = ReturnType<typeof usage>;

/** `usage`, with `prompt_tokens_details.cached_tokens` always present as OpenAI sends it. */
export function usage(promptTokens: number, completionTokens: number, cachedTokens = 0) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

function bytesOf(s: string): number[] {
  return [...Buffer.from(s, "utf8")];
}

/** Chat's `logprobs.content`. */
export function chatLogprobs(lps: readonly TokenLogprobInfo[]) {
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
export function textLogprobs(lps: readonly TokenLogprobInfo[], startOffset = 0) {
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
