/**
 * `inferd cost estimate`: a month's bill for a load of identical requests, per model. Hosted
 * models are priced from the table (the long-context tier chosen by one request's prompt); a
 * model on this machine by its measured throughput: how many machines the load needs and what
 * they cost for the month, busy or idle. A month is 30 days.
 */
import { InferdError } from "../util/errors.js";
import { mul, q, sub, usd, usdString, type Q } from "./money.js";
import { localCapacity, type LocalThroughput, type RequestLoad } from "./local-rates.js";
import { mergePrice } from "./price-config.js";
import { priceTokens } from "./price-usage.js";
import { TOKEN_KINDS, type TokenKind } from "./rates.js";
import { lookupPrice, type PriceTable, type ProviderFamily } from "./table.js";

export const DAYS_PER_MONTH = 30;

/** One model's line of an estimate. */
export type EstimateRow =
  | {
      kind: "hosted";
      model: string;
      family: ProviderFamily;
      /** The table row the name found, when not the same id. */
      pricedAs: string;
      perRequestUsd: number;
      perRequestUsdExact: string;
      monthlyUsd: number;
      monthlyUsdExact: string;
      /** The long-context tier's threshold when a request is billed at it. */
      tier: number | null;
      warnings: string[];
    }
  | {
      kind: "local";
      model: string;
      usdPerHour: number;
      machines: number;
      computeSecondsPerSecond: number;
      utilization: number;
      perRequestUsd: number;
      perRequestUsdExact: string;
      monthlyUsd: number;
      monthlyUsdExact: string;
      warnings: string[];
    }
  | { kind: "unpriced"; model: string; warnings: string[] };

export interface EstimateOptions {
  table: PriceTable;
  /** Models to estimate (table ids, aliases, or names in `local`); default: every table row, then every local one. */
  models?: string[];
  /** Local models' measured throughput (fed by the capacity planner). */
  local?: LocalThroughput[];
}

function checkLoad(l: RequestLoad): void {
  const bad = (name: string, v: number, rule: string) => new InferdError("invalid_argument", `cost estimate: ${name} must be ${rule}, not ${v}`, { param: name });
  if (!(Number.isInteger(l.requestsPerDay) && l.requestsPerDay >= 1)) throw bad("requests-per-day", l.requestsPerDay, "an integer >= 1");
  if (!(Number.isInteger(l.inputTokens) && l.inputTokens >= 0)) throw bad("input-tokens", l.inputTokens, "an integer >= 0");
  if (!(Number.isInteger(l.outputTokens) && l.outputTokens >= 0)) throw bad("output-tokens", l.outputTokens, "an integer >= 0");
  if (!(Number.isFinite(l.cachedShare) && l.cachedShare >= 0 && l.cachedShare <= 1)) throw bad("cached-share", l.cachedShare, "between 0 and 1");
}

/** A month's bill per model for `load`. */
export function estimateCosts(load: RequestLoad, opts: EstimateOptions): EstimateRow[] {
  checkLoad(load);
  const local = new Map((opts.local ?? []).map((t) => [t.model, t]));
  const names = opts.models ?? [...opts.table.rows.map((r) => r.model), ...local.keys()];
  const requests = q(load.requestsPerDay * DAYS_PER_MONTH);
  // exact: 500 prompt tokens at a 0.6 cached share are 300 cached and 200 uncached, not 199.99...
  const perRequest: Record<TokenKind, Q> = {
    input: mul(q(load.inputTokens), sub(q(1), q(load.cachedShare))),
    cached_input: mul(q(load.inputTokens), q(load.cachedShare)),
    cache_write: q(0),
    cache_write_1h: q(0),
    output: q(load.outputTokens),
    reasoning: q(0),
  };
  const monthly = Object.fromEntries(TOKEN_KINDS.map((k) => [k, mul(perRequest[k], requests)])) as Record<TokenKind, Q>;
  return names.map((name): EstimateRow => {
    const t = local.get(name);
    if (t !== undefined) {
      const c = localCapacity(t, load, DAYS_PER_MONTH);
      return {
        kind: "local", model: name, usdPerHour: t.usdPerHour, machines: c.machines, computeSecondsPerSecond: c.computeSecondsPerSecond, utilization: c.utilization,
        perRequestUsd: usd(c.perRequest), perRequestUsdExact: usdString(c.perRequest), monthlyUsd: usd(c.total), monthlyUsdExact: usdString(c.total), warnings: [],
      };
    }
    const found = lookupPrice(opts.table, name);
    const price = mergePrice(name, found, undefined);
    if (found === undefined || price === undefined) return { kind: "unpriced", model: name, warnings: [`no price for "${name}": not in the price table (and no local throughput given)`] };
    const one = priceTokens(perRequest, price, load.inputTokens);
    const month = priceTokens(monthly, price, load.inputTokens);
    const warnings = [...month.warnings];
    if (found.match === "prefix") warnings.unshift(`priced as ${found.row.model}, the longest known id "${name}" starts with`);
    return {
      kind: "hosted", model: name, family: found.row.family, pricedAs: found.row.model,
      perRequestUsd: usd(one.total), perRequestUsdExact: usdString(one.total), monthlyUsd: usd(month.total), monthlyUsdExact: usdString(month.total),
      tier: month.tier ?? null, warnings,
    };
  });
}
