/**
 * A model's price as the gateway bills it: the table's row with the config's `price` merged
 * over it, or, for a model on this machine, the machine's cost per hour. The config's `price`
 * object is snake_case like the rest of the file:
 *
 *   price: { input: 2.5, cached_input: 0.25, cache_write: 3.125, cache_write_1h: 5, output: 10,
 *            reasoning: 10, tiers: [{ above_input_tokens: 200000, input: 5, output: 15 }] }
 *   price: { machine_usd_per_hour: 0.2 }        # a local model
 */
import { z } from "zod";
import { InferdError } from "../util/errors.js";
import { rateFields, ratesFromSnake, tierFromSnake, tierSchema, type Rates, type Tier } from "./rates.js";
import { lookupPrice, type MatchKind, type PriceTable, type ProviderFamily } from "./table.js";

/**
 * What a model on this machine costs per hour when the config says nothing: $0.126, AWS EC2
 * r6i.large on demand (2 vCPU, 16 GiB, Linux, us-east-1; https://aws.amazon.com/ec2/pricing/on-demand/,
 * as of 2025). That is the nearest common cloud size to the machine inferd is built and tested
 * on (2 cores, 24 GiB): memory-optimized, because a model's weights and KV cache live in RAM.
 * An owned machine's honest figure is its depreciation, power and hosting per hour.
 */
export const DEFAULT_MACHINE_USD_PER_HOUR = 0.126;
export const DEFAULT_MACHINE_SOURCE = "default: AWS EC2 r6i.large on demand, us-east-1";

/** The schema of a model entry's `price` in the config (every field optional; strict: a typo is an error). */
export const priceConfigSchema = z.strictObject({
  ...rateFields,
  /** Replaces the table's long-context tiers (each tier complete in itself: input and output at least). */
  tiers: z.array(tierSchema).optional(),
  /** A local model: the machine's cost per hour, applied to the request's compute time. */
  machine_usd_per_hour: z.number().min(0).optional(),
});
export type PriceConfig = z.infer<typeof priceConfigSchema>;

/** A hosted model's price: per token, by kind, with long-context tiers. */
export interface TokenPrice {
  kind: "tokens";
  /** The row's model id, or the config's model when the table has no row. */
  model: string;
  family: ProviderFamily | undefined;
  rates: Rates;
  tiers: Tier[];
  /** The provider's pricing page, or "config". */
  source: string;
  date: string | undefined;
  /** How the table row was found ("config": no row, the config gave the whole price). */
  match: MatchKind | "config";
  /** The config's fields set over the row (snake_case), empty when none. */
  overridden: string[];
}

/** A local model's price: the machine's hour, applied to the request's compute time. */
export interface ComputePrice {
  kind: "compute";
  usdPerHour: number;
  /** Where the figure comes from: "config" or the documented default. */
  source: string;
}

export type Price = TokenPrice | ComputePrice;

const RATE_KEYS = ["input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning"] as const;

/**
 * The config's `price` over a table row: each field it sets replaces the row's, the others stay
 * (an override of `output` alone keeps the row's input, cache and tier rates); `tiers` replaces
 * the row's tiers whole. Without a row the config must give `input` and `output`.
 */
export function mergePrice(model: string, found: ReturnType<typeof lookupPrice>, override: PriceConfig | undefined): TokenPrice | undefined {
  const o = override ?? {};
  const overridden = [...RATE_KEYS.filter((k) => o[k] !== undefined), ...(o.tiers !== undefined ? ["tiers"] : [])];
  const tiers = o.tiers?.map(tierFromSnake).sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);
  if (found === undefined) {
    if (overridden.length === 0) return undefined;
    if (o.input === undefined || o.output === undefined) {
      throw new InferdError("invalid_argument", `price of "${model}": the price table has no such model, so input and output are both needed`, { param: "price" });
    }
    return { kind: "tokens", model, family: undefined, rates: ratesFromSnake({ ...o, input: o.input, output: o.output }), tiers: tiers ?? [], source: "config", date: undefined, match: "config", overridden };
  }
  const { row, match } = found;
  const r = row.rates;
  const rates = ratesFromSnake({
    input: o.input ?? r.input,
    cached_input: o.cached_input ?? r.cachedInput,
    cache_write: o.cache_write ?? r.cacheWrite,
    cache_write_1h: o.cache_write_1h ?? r.cacheWrite1h,
    output: o.output ?? r.output,
    reasoning: o.reasoning ?? r.reasoning,
  });
  return { kind: "tokens", model: row.model, family: row.family, rates, tiers: tiers ?? row.tiers, source: row.source, date: row.date, match, overridden };
}

/** A config model entry, as much of it as pricing reads. */
export interface PricedModel {
  provider: string;
  model: string;
  price?: PriceConfig;
}

/**
 * The price of a config's model: local models by the machine's hour (the config's
 * `machine_usd_per_hour`, else `defaultUsdPerHour`), hosted ones from the table and the config.
 * Undefined: a hosted model with no price anywhere (its requests cost `usd: null`, never 0).
 * A price that mixes the two (token rates on a local model, a machine price on a hosted one) is
 * a config error. `notes` say what a person should know once (a price found by prefix).
 */
export function resolveModelPrice(m: PricedModel, table: PriceTable, defaultUsdPerHour = DEFAULT_MACHINE_USD_PER_HOUR): { price: Price | undefined; notes: string[] } {
  const p = m.price;
  if (m.provider === "local") {
    const tokenFields = [...RATE_KEYS.filter((k) => p?.[k] !== undefined), ...(p?.tiers !== undefined ? ["tiers"] : [])];
    if (tokenFields.length > 0) {
      throw new InferdError("invalid_argument", `price of "${m.model}": a local model is priced by the machine's hour (machine_usd_per_hour), not by ${tokenFields.join(", ")}`, { param: "price" });
    }
    const own = p?.machine_usd_per_hour;
    return { price: { kind: "compute", usdPerHour: own ?? defaultUsdPerHour, source: own !== undefined ? "config" : DEFAULT_MACHINE_SOURCE }, notes: [] };
  }
  if (p?.machine_usd_per_hour !== undefined) {
    throw new InferdError("invalid_argument", `price of "${m.model}": machine_usd_per_hour is for local models; a hosted model is priced per token`, { param: "price" });
  }
  const found = lookupPrice(table, m.model);
  const price = mergePrice(m.model, found, p);
  const notes: string[] = [];
  if (price === undefined) notes.push(`no price for "${m.model}" (${m.provider}): its requests are logged with usd null; add price: {input, output} to its config entry`);
  else if (found?.match === "prefix") notes.push(`"${m.model}" is priced as ${found.row.family}/${found.row.model}, the longest known id it starts with: check it, or set its price in the config`);
  return { price, notes };
}
