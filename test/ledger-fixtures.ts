/**
 * Ledger rows for tests, and the usage sums computed in plain JS from the rows themselves, the
 * reference the stores' SQL must agree with.
 */
import type { LedgerRow, Outcome } from "../src/ledger/row.js";
import type { GroupBy, UsageFilter, UsageTotals } from "../src/ledger/store.js";

/** 2025-01-01T00:00:00Z. */
export const BASE_TS = Date.UTC(2025, 0, 1);

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

/**
 * A varied, deterministic row: every nullable field null in some rows, all outcomes, text that
 * needs quoting, fractional costs, timestamps spread over several UTC days (37-minute steps).
 */
export function sampleRow(i: number, prefix = "req"): LedgerRow {
  const outcome = pick<Outcome>(["ok", "ok", "ok", "error", "refused", "cancelled"], i);
  const answered = outcome !== "refused";
  const input = 100 + ((i * 7919) % 5000);
  const cached = i % 3 === 0 ? Math.floor(input / 2) : 0;
  const write = i % 4 === 0 ? 64 : 0;
  const output = outcome === "refused" ? 0 : 1 + ((i * 104729) % 700);
  return {
    ts: BASE_TS + i * 37 * 60_000,
    requestId: `${prefix}-${i}`,
    keyId: pick(["k-alpha", "k-beta", "k-gamma", null], i),
    user: pick([null, "user-1", "o'brien, \"quoted\""], i),
    tag: pick(["batch", null, "chat", "ünïcode ✓"], i),
    modelRequested: pick(["gpt-4o", "claude", "local-small"], i),
    provider: answered ? pick(["openai", "anthropic", "local"], i) : null,
    model: answered ? pick(["gpt-4o-2024-08-06", "claude-sonnet-4", "smollm2"], i) : null,
    inputTokens: input,
    cachedInputTokens: cached,
    cacheWriteTokens: write,
    cacheWrite1hTokens: write > 0 && i % 8 === 0 ? 32 : 0,
    outputTokens: output,
    reasoningTokens: i % 5 === 0 ? Math.floor(output / 3) : 0,
    costUsd: i % 5 === 2 ? null : i % 7 === 0 ? 0 : (input * 2.5 + output * 10) / 1e6,
    savedUsd: cached > 0 ? (cached * 1.25) / 1e6 : null,
    queueMs: (i % 10) * 1.5,
    ttftMs: output > 0 ? 50 + (i % 40) + 0.25 : null,
    totalMs: 100 + (i % 300) + 0.5,
    cacheHit: cached > 0,
    estimated: i % 11 === 0,
    finishReason: outcome === "cancelled" ? "abort" : output > 0 ? pick(["stop", "length", "tool_calls"] as const, i) : null,
    status: outcome === "refused" ? 429 : outcome === "error" ? 502 : 200,
    errorCode: outcome === "refused" ? "rate_limited" : outcome === "error" ? "upstream_error" : null,
    route: i % 2 === 0 ? "default" : null,
    outcome,
  };
}

function groupOf(r: LedgerRow, by: GroupBy): string | null {
  switch (by) {
    case "key":
      return r.keyId;
    case "model":
      return r.modelRequested;
    case "provider":
      return r.provider;
    case "tag":
      return r.tag;
    case "day":
      return new Date(r.ts).toISOString().slice(0, 10);
  }
}

/** The sums a store must return for `rows`, sorted by group (null last). */
export function referenceUsage(rows: readonly LedgerRow[], by: GroupBy, f: UsageFilter = {}): UsageTotals[] {
  const groups = new Map<string | null, UsageTotals>();
  for (const r of rows) {
    if ((f.since !== undefined && r.ts < f.since) || (f.until !== undefined && r.ts >= f.until) || (f.keyId !== undefined && r.keyId !== f.keyId)) continue;
    const g = groupOf(r, by);
    let t = groups.get(g);
    if (!t) {
      t = { group: g, requests: 0, inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0, costUsd: null, unpricedRequests: 0, savedUsd: null, cacheHits: 0 };
      groups.set(g, t);
    }
    t.requests++;
    t.inputTokens += r.inputTokens;
    t.cachedInputTokens += r.cachedInputTokens;
    t.cacheWriteTokens += r.cacheWriteTokens;
    t.cacheWrite1hTokens += r.cacheWrite1hTokens;
    t.outputTokens += r.outputTokens;
    t.reasoningTokens += r.reasoningTokens;
    if (r.costUsd === null) t.unpricedRequests++;
    else t.costUsd = (t.costUsd ?? 0) + r.costUsd;
    if (r.savedUsd !== null) t.savedUsd = (t.savedUsd ?? 0) + r.savedUsd;
    if (r.cacheHit) t.cacheHits++;
  }
  return sortTotals([...groups.values()]);
}

/** Totals by group, null last (the stores return them unordered). */
export function sortTotals(ts: UsageTotals[]): UsageTotals[] {
  return [...ts].sort((a, b) => (a.group === b.group ? 0 : a.group === null ? 1 : b.group === null ? -1 : a.group < b.group ? -1 : 1));
}

/** Costs are summed in a different order by SQL: equal to 1e-12 relative is equal. */
export function roundTotals(ts: UsageTotals[]): UsageTotals[] {
  const r = (x: number | null) => (x === null ? null : Number(x.toPrecision(12)));
  return ts.map((t) => ({ ...t, costUsd: r(t.costUsd), savedUsd: r(t.savedUsd) }));
}
