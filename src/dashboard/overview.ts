/**
 * The dashboard's data, as one JSON object (`GET /dashboard/api/overview`, documented in the
 * README and usable by scripts): totals over a window from the same query `inferd usage` runs
 * (so the two always agree), time series bucketed from the window's rows, what caching and
 * routing saved, the live load of local models, budgets per key, and the latest requests with
 * their route decisions.
 */
import type { LedgerRow } from "../ledger/row.js";
import type { LedgerStore, UsageTotals } from "../ledger/store.js";
import { percentileOf } from "./percentile.js";

/** Rows read for the series at most; a busier window's series cover its latest rows (`truncated`). */
export const MAX_SERIES_ROWS = 20_000;

export interface OverviewInput {
  store: LedgerStore;
  /** Window start and bucket width, ms. */
  since: number;
  bucketMs: number;
  now: number;
  /** Key id -> name. */
  keyName(id: string): string | undefined;
  /** Local models' load now. */
  live: { name: string; running: number; waiting: number; kvUsage: number }[];
  /** Keys with their budgets and spend this period. */
  budgets: () => Promise<{ key: string; budgetUsd: number | null; spentUsd: number; period: string; soft: boolean; periodEnds: string }[]>;
  /** What a cascade-accepted row would have cost on the model it avoided (null: unknown). */
  priceOn(model: string, row: LedgerRow): number | null;
}

type Series = Record<string, (number | null)[]>;

function tokens(t: UsageTotals) {
  return { input: t.inputTokens, cached_input: t.cachedInputTokens, cache_write: t.cacheWriteTokens, output: t.outputTokens, reasoning: t.reasoningTokens };
}

/** A route decision's fields (`policy=cascade; model=small; outcome=accepted; over=big; ...`). */
export function decisionFields(route: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (route === null) return out;
  for (const part of route.split("; ")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export async function overview(o: OverviewInput) {
  const filter = { since: o.since };
  const [byModel, byKey] = await Promise.all([o.store.usage("model", filter), o.store.usage("key", filter)]);
  const rows = await o.store.recent(MAX_SERIES_ROWS, filter);
  const sum = (f: (t: UsageTotals) => number) => byModel.reduce((s, t) => s + f(t), 0);
  const start = Math.floor(o.since / o.bucketMs) * o.bucketMs;
  const n = Math.max(1, Math.ceil((o.now - start) / o.bucketMs));
  const t = Array.from({ length: n }, (_, i) => start + i * o.bucketMs);
  const bucketOf = (ts: number) => Math.min(n - 1, Math.max(0, Math.floor((ts - start) / o.bucketMs)));
  const zeros = () => new Array<number>(n).fill(0);
  const add = (s: Record<string, number[]>, name: string, i: number, v: number) => ((s[name] ??= zeros())[i]! += v);
  const costByModel: Record<string, number[]> = {};
  const costByRoute: Record<string, number[]> = {};
  const costByKey: Record<string, number[]> = {};
  const tokenSeries: Record<string, number[]> = { input: zeros(), cached_input: zeros(), cache_write: zeros(), output: zeros(), reasoning: zeros() };
  const requests = zeros();
  const ttft: number[][] = t.map(() => []);
  const tpot: number[][] = t.map(() => []);
  const e2e: number[][] = t.map(() => []);
  const savings = { prefix_cache_usd: 0, response_cache_usd: 0, response_cache_hits: 0, cascade_accepted: 0, cascade_escalated: 0, cascade_saved_usd: 0 };
  for (const r of rows) {
    const i = bucketOf(r.ts);
    const cost = r.costUsd ?? 0;
    requests[i]!++;
    add(costByModel, r.model ?? r.modelRequested, i, cost);
    // by the name asked for: a route's name for routed requests
    add(costByRoute, r.modelRequested, i, cost);
    add(costByKey, r.keyId === null ? "(no key)" : (o.keyName(r.keyId) ?? r.keyId), i, cost);
    tokenSeries.input![i]! += r.inputTokens - r.cachedInputTokens - r.cacheWriteTokens;
    tokenSeries.cached_input![i]! += r.cachedInputTokens;
    tokenSeries.cache_write![i]! += r.cacheWriteTokens;
    tokenSeries.output![i]! += r.outputTokens - r.reasoningTokens;
    tokenSeries.reasoning![i]! += r.reasoningTokens;
    if (r.outcome === "ok") {
      if (r.ttftMs !== null) ttft[i]!.push(r.ttftMs);
      e2e[i]!.push(r.totalMs);
      if (r.ttftMs !== null && r.outputTokens > 1) tpot[i]!.push((r.totalMs - r.ttftMs) / (r.outputTokens - 1));
    }
    const responseCache = (r as { responseCache?: string | null }).responseCache;
    if (responseCache != null) {
      savings.response_cache_hits++;
      savings.response_cache_usd += r.savedUsd ?? 0;
    } else savings.prefix_cache_usd += r.savedUsd ?? 0;
    const d = decisionFields(r.route);
    if (d.policy === "cascade" && d.outcome === "accepted") {
      savings.cascade_accepted++;
      const avoided = d.over === undefined ? null : o.priceOn(d.over, r);
      if (avoided !== null) savings.cascade_saved_usd += Math.max(0, avoided - cost);
    } else if (d.policy === "cascade" && d.outcome === "escalated") savings.cascade_escalated++;
  }
  const pct = (xs: number[][], p: number) => xs.map((x) => (x.length === 0 ? null : percentileOf(x, p)));
  const outputPerSecond = t.map((_, i) => tokenSeries.output![i]! + tokenSeries.reasoning![i]!).map((x) => x / (o.bucketMs / 1000));
  const series: { t: number[] } & Record<string, Series | number[] | (number | null)[]> = {
    t,
    requests,
    cost_by_model: costByModel,
    cost_by_route: costByRoute,
    cost_by_key: costByKey,
    tokens: tokenSeries,
    ttft_ms: { p50: pct(ttft, 50), p90: pct(ttft, 90), p99: pct(ttft, 99) },
    tpot_ms: { p50: pct(tpot, 50), p90: pct(tpot, 90), p99: pct(tpot, 99) },
    e2e_ms: { p50: pct(e2e, 50), p90: pct(e2e, 90), p99: pct(e2e, 99) },
    output_tokens_per_second: outputPerSecond,
  };
  const costOf = (ts: UsageTotals[]) => (ts.every((x) => x.costUsd === null) ? null : ts.reduce((s, x) => s + (x.costUsd ?? 0), 0));
  return {
    generated_at: new Date(o.now).toISOString(),
    since: new Date(o.since).toISOString(),
    bucket_ms: o.bucketMs,
    truncated: rows.length >= MAX_SERIES_ROWS,
    totals: {
      requests: sum((x) => x.requests),
      cost_usd: costOf(byModel),
      saved_usd: sum((x) => x.savedUsd ?? 0),
      unpriced_requests: sum((x) => x.unpricedRequests),
      tokens: {
        input: sum((x) => x.inputTokens),
        cached_input: sum((x) => x.cachedInputTokens),
        cache_write: sum((x) => x.cacheWriteTokens),
        output: sum((x) => x.outputTokens),
        reasoning: sum((x) => x.reasoningTokens),
      },
      by_model: byModel.map((x) => ({ model: x.group, requests: x.requests, cost_usd: x.costUsd, ...tokens(x) })),
      by_key: byKey.map((x) => ({ key: x.group === null ? null : (o.keyName(x.group) ?? x.group), requests: x.requests, cost_usd: x.costUsd })),
    },
    savings,
    series,
    live: o.live,
    budgets: await o.budgets(),
    recent: rows.slice(0, 50).map((r) => ({
      ts: new Date(r.ts).toISOString(),
      request_id: r.requestId,
      key: r.keyId === null ? null : (o.keyName(r.keyId) ?? r.keyId),
      model_requested: r.modelRequested,
      model: r.model,
      route: r.route,
      outcome: r.outcome,
      status: r.status,
      input_tokens: r.inputTokens,
      output_tokens: r.outputTokens,
      cost_usd: r.costUsd,
      ttft_ms: r.ttftMs,
      total_ms: r.totalMs,
    })),
  };
}

export type Overview = Awaited<ReturnType<typeof overview>>;
