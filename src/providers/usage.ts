/** Building `Usage` records, shared by the providers. */
import type { Usage } from "./provider.js";

/** A record with every count 0, for `provider`'s `model`. */
export function emptyUsage(provider: string, model: string): Usage {
  return {
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    timing: { queuedMs: 0, firstTokenMs: undefined, totalMs: 0 },
    provider,
    model,
  };
}

/**
 * Tokens of a text when no tokenizer for it is at hand: about 4 characters a token, OpenAI's
 * own rule of thumb for English. Only for records marked `estimated`.
 */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.round(text.length / 4));
}
