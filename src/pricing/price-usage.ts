/**
 * One request's bill from its `Usage` record: the one place where token counts meet rates.
 * The record's convention (src/providers/provider.ts) makes the split unambiguous: cached
 * input and cache writes are PARTS of inputTokens, the 1-hour writes part of the writes,
 * reasoning part of the output; so each token is billed exactly once, at its kind's rate,
 * whether the usage came from a stream's last chunk or a whole response. Amounts are exact
 * (src/pricing/money.ts); a model with no price costs `usd: null`, never 0.
 */
import type { Usage } from "../providers/provider.js";
import { add, mul, q, sub, cmp, div, money, usd, usdString, parseUsd, type Money, type Q } from "./money.js";
import type { Price, TokenPrice } from "./price-config.js";
import { effectiveRates, tierFor, TOKEN_KINDS, type TokenKind } from "./rates.js";

/** One kind's line of a bill. */
export interface TokenPart {
  kind: TokenKind;
  tokens: number;
  usdPerMillion: number;
  usd: number;
  /** The same amount, exact, as a decimal string of dollars. */
  usdExact: string;
}

/** A local model's line: compute time at the machine's hour. */
export interface ComputePart {
  kind: "compute";
  ms: number;
  usdPerHour: number;
  usd: number;
  usdExact: string;
}

export type CostParts = { [K in TokenKind]?: TokenPart } & { compute?: ComputePart };

/** A request's cost. */
export interface Cost {
  /** What it cost in USD; null when the model has no price (unknown, which is not free). */
  usd: number | null;
  /** The same, exact, as a decimal string of dollars ("0.0025"): sum these, not `usd`. */
  usdExact: string | null;
  /**
   * What caching saved: hosted, the cached tokens at the input rate less the cached rate;
   * local, the prefill compute the prefix cache saved at the machine's hour. Null with `usd`.
   */
  savedUsd: number | null;
  savedUsdExact: string | null;
  parts: CostParts;
  /** The long-context tier's threshold when the request was billed at it. */
  tier: number | undefined;
  /** Whatever makes the figure less than certain: numbers that did not add up, defaulted rates, estimates. */
  warnings: string[];
}

const PER_MILLION = q(1_000_000);
const MS_PER_HOUR = q(3_600_000);

/** A count as reported, or 0 with a warning when it is not one (negative, NaN): never a negative bill. */
function countOf(name: string, v: number, warnings: string[]): number {
  if (Number.isFinite(v) && v >= 0) return v;
  warnings.push(`${name} is ${v}: counted as 0`);
  return 0;
}

/** Token counts split into the billed kinds: each token in exactly one. */
export type TokenCounts = Record<TokenKind, number>;

/**
 * The record's counts as disjoint billed kinds. A provider whose numbers do not add up (more
 * cached and written tokens than prompt tokens, more reasoning than output) is clamped, never
 * billed negative, and said so.
 */
export function splitUsage(u: Usage): { counts: TokenCounts; promptTokens: number; warnings: string[] } {
  const warnings: string[] = [];
  const n = (name: string, v: number) => countOf(name, v, warnings);
  const input = n("inputTokens", u.inputTokens);
  const cached = n("cachedInputTokens", u.cachedInputTokens);
  const write = n("cacheWriteTokens", u.cacheWriteTokens);
  let write1h = n("cacheWrite1hTokens", u.cacheWrite1hTokens);
  const output = n("outputTokens", u.outputTokens);
  let reasoning = n("reasoningTokens", u.reasoningTokens);
  if (cached + write > input) {
    // the itemized parts are billed as reported; it is the total that cannot be right (e.g.
    // Anthropic's raw input_tokens, which excludes them, passed on as the prompt's size)
    warnings.push(`${u.provider}/${u.model} reported ${cached} cached and ${write} cache-write tokens of ${input} input tokens: uncached input counted as 0`);
  }
  if (write1h > write) {
    warnings.push(`${u.provider}/${u.model} reported ${write1h} 1-hour cache writes of ${write} writes: counted as ${write}`);
    write1h = write;
  }
  if (reasoning > output) {
    warnings.push(`${u.provider}/${u.model} reported ${reasoning} reasoning tokens of ${output} output tokens: counted as ${output}`);
    reasoning = output;
  }
  return {
    counts: {
      input: Math.max(0, input - cached - write),
      cached_input: cached,
      cache_write: write - write1h,
      cache_write_1h: write1h,
      output: output - reasoning,
      reasoning,
    },
    // the prompt was at least its itemized parts: that is what a long-context tier looks at
    promptTokens: Math.max(input, cached + write),
    warnings,
  };
}

/** Exact totals of a token bill, before they become a `Cost` (the cost estimate sums these). */
export interface TokenBill {
  total: Money;
  saved: Money;
  parts: { [K in TokenKind]: TokenPart };
  tier: number | undefined;
  warnings: string[];
}

/**
 * Counts (any non-negative amounts, fractions too) at a price's rates, at the tier a prompt of
 * `promptTokens` falls in: past a tier's threshold every kind is billed at the tier's rates.
 */
export function priceTokens(counts: Record<TokenKind, Q>, price: TokenPrice, promptTokens: number): TokenBill {
  const tier = tierFor(price.tiers, promptTokens);
  const eff = effectiveRates(tier ?? price.rates);
  const warnings: string[] = [];
  let total = q(0);
  const parts = {} as { [K in TokenKind]: TokenPart };
  for (const kind of TOKEN_KINDS) {
    const amount = mul(counts[kind], div(eff.rates[kind], PER_MILLION));
    total = add(total, amount);
    const m = money(amount);
    parts[kind] = { kind, tokens: Number(counts[kind].n) / Number(counts[kind].d), usdPerMillion: eff.shown[kind], usd: usd(m), usdExact: usdString(m) };
  }
  if (eff.cachedAtInputRate && cmp(counts.cached_input, q(0)) > 0) {
    warnings.push(`no cached-input rate: ${parts.cached_input.tokens} cached tokens billed at the input rate`);
  }
  const saved = mul(counts.cached_input, div(sub(eff.rates.input, eff.rates.cached_input), PER_MILLION));
  return { total: money(total), saved: money(saved), parts, tier: tier?.aboveInputTokens, warnings };
}

function unpriced(warning: string, warnings: string[]): Cost {
  return { usd: null, usdExact: null, savedUsd: null, savedUsdExact: null, parts: {}, tier: undefined, warnings: [...warnings, warning] };
}

/** A request's cost at `price` (undefined: the model has none, so the cost is unknown). */
export function priceUsage(u: Usage, price: Price | undefined): Cost {
  const warnings: string[] = [];
  if (u.estimated) warnings.push(`the upstream reported no usage: the token counts are inferd's estimate`);
  switch (price?.kind) {
    case undefined:
      return unpriced(`no price for ${u.provider}/${u.model}: cost unknown (not $0)`, warnings);
    case "compute": {
      if (u.compute === undefined) return unpriced(`${u.provider}/${u.model} is priced by compute time, but its usage has none`, warnings);
      const rate = div(q(price.usdPerHour), MS_PER_HOUR);
      const ms = countOf("compute.ms", u.compute.ms, warnings);
      const savedMs = countOf("compute.savedMs", u.compute.savedMs, warnings);
      const total = money(mul(q(ms), rate));
      const saved = money(mul(q(savedMs), rate));
      const compute: ComputePart = { kind: "compute", ms, usdPerHour: price.usdPerHour, usd: usd(total), usdExact: usdString(total) };
      return { usd: usd(total), usdExact: usdString(total), savedUsd: usd(saved), savedUsdExact: usdString(saved), parts: { compute }, tier: undefined, warnings };
    }
    case "tokens": {
      const split = splitUsage(u);
      const counts = Object.fromEntries(TOKEN_KINDS.map((k) => [k, q(split.counts[k])])) as Record<TokenKind, Q>;
      const bill = priceTokens(counts, price, split.promptTokens);
      return {
        usd: usd(bill.total),
        usdExact: usdString(bill.total),
        savedUsd: usd(bill.saved),
        savedUsdExact: usdString(bill.saved),
        parts: bill.parts,
        tier: bill.tier,
        warnings: [...warnings, ...split.warnings, ...bill.warnings],
      };
    }
  }
}

/** Totals of many requests' costs, exact; the unpriced are counted, not taken as $0. */
export function sumCosts(costs: Iterable<Cost>): { usd: number; usdExact: string; savedUsd: number; savedUsdExact: string; priced: number; unpriced: number } {
  let total: Money = 0n;
  let saved: Money = 0n;
  let priced = 0;
  let unpricedCount = 0;
  for (const c of costs) {
    if (c.usdExact === null) {
      unpricedCount++;
      continue;
    }
    priced++;
    total += parseUsd(c.usdExact);
    saved += c.savedUsdExact === null ? 0n : parseUsd(c.savedUsdExact);
  }
  return { usd: usd(total), usdExact: usdString(total), savedUsd: usd(saved), savedUsdExact: usdString(saved), priced, unpriced: unpricedCount };
}
