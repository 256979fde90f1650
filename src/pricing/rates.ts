/**
 * Rates: what one token of each kind costs, in USD per 1M tokens, as the price table and the
 * config both write them (snake_case). One schema serves both, so a config override is checked
 * exactly as a table row is; the defaults for a rate a row leaves out are settled here, once.
 */
import { z } from "zod";
import { q, type Q } from "./money.js";

/** A price in USD per 1M tokens: finite, not negative, at most 12 decimals (exact to the atto-dollar per token). */
export const usdPerMillion = z
  .number()
  .min(0)
  .refine((x) => Number.isFinite(x) && 10n ** 12n % q(x).d === 0n, { message: "a price needs at most 12 decimals" });

/** The rate fields, every one optional: a config override may give any subset of them. */
export const rateFields = {
  input: usdPerMillion.optional(),
  cached_input: usdPerMillion.optional(),
  cache_write: usdPerMillion.optional(),
  cache_write_1h: usdPerMillion.optional(),
  output: usdPerMillion.optional(),
  reasoning: usdPerMillion.optional(),
};

/** A long-context tier as written: past `above_input_tokens` prompt tokens, the whole request at these rates. */
export const tierSchema = z.strictObject({
  above_input_tokens: z.number().int().min(1),
  ...rateFields,
  input: usdPerMillion,
  output: usdPerMillion,
});

/**
 * Rates of a price (a table row, a tier, a config price). `input` and `output` are always known;
 * a missing `cachedInput` bills cached tokens at the input rate and says so (the row knows no
 * discount, so the bill is an upper bound); a missing `cacheWrite` is the input rate (no write
 * premium: OpenAI's and Google's implicit caches); a missing `cacheWrite1h` the 5-minute rate;
 * a missing `reasoning` the output rate (every provider bills thinking as output).
 */
export interface Rates {
  input: number;
  cachedInput?: number;
  cacheWrite?: number;
  cacheWrite1h?: number;
  output: number;
  reasoning?: number;
}

/** A long-context tier: when a request's prompt exceeds `aboveInputTokens`, every kind at these rates. */
export interface Tier extends Rates {
  aboveInputTokens: number;
}

/** The billed kinds of token, in the order a bill lists them. */
export type TokenKind = "input" | "cached_input" | "cache_write" | "cache_write_1h" | "output" | "reasoning";
export const TOKEN_KINDS: readonly TokenKind[] = ["input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning"];

/** Every kind's rate with the defaults applied, as exact fractions (USD per 1M tokens). */
export interface EffectiveRates {
  rates: Record<TokenKind, Q>;
  /** Their decimal values, for showing. */
  shown: Record<TokenKind, number>;
  /** True when the row has no cached-input rate (cached tokens are billed at the input rate). */
  cachedAtInputRate: boolean;
}

/** The rate of one kind, following the defaults above. */
export function rateOf(r: Rates, kind: TokenKind): number {
  switch (kind) {
    case "input":
      return r.input;
    case "cached_input":
      return r.cachedInput ?? r.input;
    case "cache_write":
      return r.cacheWrite ?? r.input;
    case "cache_write_1h":
      return r.cacheWrite1h ?? r.cacheWrite ?? r.input;
    case "output":
      return r.output;
    case "reasoning":
      return r.reasoning ?? r.output;
  }
}

export function effectiveRates(r: Rates): EffectiveRates {
  const shown = Object.fromEntries(TOKEN_KINDS.map((k) => [k, rateOf(r, k)])) as Record<TokenKind, number>;
  const rates = Object.fromEntries(TOKEN_KINDS.map((k) => [k, q(shown[k])])) as Record<TokenKind, Q>;
  return { rates, shown, cachedAtInputRate: r.cachedInput === undefined };
}

/** Snake_case rate fields (table or config) as `Rates`; `input` and `output` must be there. */
export function ratesFromSnake(o: z.infer<z.ZodObject<typeof rateFields>> & { input: number; output: number }): Rates {
  return {
    input: o.input,
    ...(o.cached_input !== undefined ? { cachedInput: o.cached_input } : {}),
    ...(o.cache_write !== undefined ? { cacheWrite: o.cache_write } : {}),
    ...(o.cache_write_1h !== undefined ? { cacheWrite1h: o.cache_write_1h } : {}),
    output: o.output,
    ...(o.reasoning !== undefined ? { reasoning: o.reasoning } : {}),
  };
}

/** A tier as written, as a `Tier`. */
export function tierFromSnake(t: z.infer<typeof tierSchema>): Tier {
  return { aboveInputTokens: t.above_input_tokens, ...ratesFromSnake(t) };
}

/** The tier a request of `inputTokens` prompt tokens is billed at: the highest threshold it exceeds. */
export function tierFor(tiers: readonly Tier[], inputTokens: number): Tier | undefined {
  let best: Tier | undefined;
  for (const t of tiers) if (inputTokens > t.aboveInputTokens && (best === undefined || t.aboveInputTokens > best.aboveInputTokens)) best = t;
  return best;
}
