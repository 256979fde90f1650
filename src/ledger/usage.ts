/**
 * The ledger's reports, as `inferd usage` and a dashboard read them: sums per group (a key's
 * name in place of its id), one key's own usage, and the latest requests. The JSON field names
 * here are the report's public format (snake_case, like the columns).
 */
import type { LedgerRow } from "./row.js";
import { COLUMNS } from "./schema.js";
import type { GroupBy, LedgerStore, UsageFilter, UsageTotals } from "./store.js";

/** Key id -> name (the key store's), as a map or a lookup; ids it does not know are shown as ids. */
export type KeyNames = ReadonlyMap<string, string> | ((id: string) => string | undefined);

/** One group of a usage report. */
export interface UsageReportRow {
  /** The `--by` the report was made with. */
  by: GroupBy;
  /** The group: a key's name (its id when the name is unknown), a model, provider, tag or "YYYY-MM-DD" (UTC); null: rows without one. */
  group: string | null;
  /** --by key: the key's id (null for requests made without a key). */
  keyId?: string | null;
  totals: UsageTotals;
}

/**
 * The report's JSON object for one group: the group under the `--by` name (`"key": "ci-bot"`),
 * `key_id` beside it for --by key, then the counts. `cost_usd` is the sum of the known costs
 * (null only when no request of the group had a price) and `unpriced_requests` counts the
 * requests without one, so a partial sum is never mistaken for the whole.
 */
export function usageJson(r: UsageReportRow): Record<string, string | number | null> {
  const t = r.totals;
  return {
    [r.by]: r.group,
    ...(r.by === "key" ? { key_id: r.keyId ?? null } : {}),
    requests: t.requests,
    input_tokens: t.inputTokens,
    cached_input_tokens: t.cachedInputTokens,
    cache_write_tokens: t.cacheWriteTokens,
    cache_write_1h_tokens: t.cacheWrite1hTokens,
    output_tokens: t.outputTokens,
    reasoning_tokens: t.reasoningTokens,
    cost_usd: t.costUsd,
    unpriced_requests: t.unpricedRequests,
    saved_usd: t.savedUsd,
    cache_hits: t.cacheHits,
  };
}

function nameOf(keyNames: KeyNames | undefined, id: string): string {
  if (keyNames === undefined) return id;
  return (typeof keyNames === "function" ? keyNames(id) : keyNames.get(id)) ?? id;
}

/**
 * Usage per group over the rows `filter` selects (with `filter.keyId`: one key's own usage).
 * Sorted by group (days in order; names by code point, so both stores agree whatever their
 * collation), rows without a group last.
 */
export async function usageReport(store: LedgerStore, by: GroupBy, filter: UsageFilter = {}, keyNames?: KeyNames): Promise<UsageReportRow[]> {
  const totals = await store.usage(by, filter);
  const rows: UsageReportRow[] = totals.map((t) => {
    if (by !== "key") return { by, group: t.group, totals: t };
    return { by, group: t.group === null ? null : nameOf(keyNames, t.group), keyId: t.group, totals: t };
  });
  // two keys may share a name: their ids order them
  return rows.sort((a, b) => cmp(a.group, b.group) || cmp(a.keyId ?? null, b.keyId ?? null));
}

/** Code-point order, null last. */
function cmp(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** A key's own usage: the same report restricted to rows of `keyId` (what that key may see). */
export function keyUsageReport(store: LedgerStore, keyId: string, by: GroupBy, filter: Omit<UsageFilter, "keyId"> = {}, keyNames?: KeyNames): Promise<UsageReportRow[]> {
  return usageReport(store, by, { ...filter, keyId }, keyNames);
}

/** The `limit` latest requests (newest first), optionally of one key or time range: the dashboard's feed. */
export function recentRequests(store: LedgerStore, limit: number, filter: UsageFilter = {}): Promise<LedgerRow[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  return store.recent(limit, filter);
}

/** A request's JSON object: the ledger's column names (snake_case) and values. */
export function rowJson(row: LedgerRow): Record<string, string | number | boolean | null> {
  return Object.fromEntries(COLUMNS.map((c) => [c.name, row[c.field]]));
}

/** The columns of rowJson, in order. */
export const ROW_COLUMNS: readonly string[] = COLUMNS.map((c) => c.name);
