/**
 * The ledger's statements, built once for both dialects so the two stores cannot drift: they
 * differ only in placeholders ($1 against ?) and in how a day is computed from a ms timestamp.
 */
import { assertNever } from "../util/assert-never.js";
import { COLUMNS, TABLE, type Dialect } from "./schema.js";
import type { GroupBy, UsageFilter, UsageTotals } from "./store.js";

/** A statement with its parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

/** Builds a statement's text with the dialect's placeholders as parameters are added. */
class Params {
  readonly values: unknown[] = [];
  constructor(private readonly d: Dialect) {}
  add(v: unknown): string {
    this.values.push(v);
    switch (this.d) {
      case "sqlite":
        return "?";
      case "postgres":
        return `$${this.values.length}`;
      default:
        return assertNever(this.d);
    }
  }
}

/**
 * A multi-row insert that skips rows whose request id is stored: one statement for the whole
 * batch (PostgreSQL: one round trip), or one row per call when `rows` is 1 (SQLite's prepared
 * statement, run per row inside a transaction). ON CONFLICT (request_id), not SQLite's INSERT
 * OR IGNORE: that would also skip rows breaking a CHECK or NOT NULL, silently.
 */
export function insertSql(d: Dialect, rows: number): string {
  const p = new Params(d);
  const tuples = Array.from({ length: rows }, () => `(${COLUMNS.map(() => p.add(null)).join(", ")})`);
  return `INSERT INTO ${TABLE} (${COLUMNS.map((c) => c.name).join(", ")}) VALUES ${tuples.join(", ")} ON CONFLICT (request_id) DO NOTHING`;
}

/** The expression a usage query groups on. Days are UTC, so every reader agrees on them. */
function groupExpr(d: Dialect, by: GroupBy): string {
  switch (by) {
    case "key":
      return "key_id";
    case "model":
      return "model_requested";
    case "provider":
      return "provider";
    case "tag":
      return "tag";
    case "day":
      switch (d) {
        case "sqlite":
          return "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')";
        case "postgres":
          return "to_char(to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
        default:
          return assertNever(d);
      }
    default:
      return assertNever(by);
  }
}

function where(p: Params, f: UsageFilter): string {
  const parts: string[] = [];
  if (f.since !== undefined) parts.push(`ts >= ${p.add(f.since)}`);
  if (f.until !== undefined) parts.push(`ts < ${p.add(f.until)}`);
  if (f.keyId !== undefined) parts.push(`key_id = ${p.add(f.keyId)}`);
  return parts.length > 0 ? ` WHERE ${parts.join(" AND ")}` : "";
}

const SUMMED = ["input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens"];

/** Sums per group. SUM over only NULLs is NULL in both dialects: that is the "no known cost" case. */
export function usageSql(d: Dialect, by: GroupBy, f: UsageFilter): Sql {
  const p = new Params(d);
  const w = where(p, f);
  const g = groupExpr(d, by);
  const text =
    `SELECT ${g} AS grp, COUNT(*) AS requests, ${SUMMED.map((c) => `SUM(${c}) AS ${c}`).join(", ")}, ` +
    `SUM(cost_usd) AS cost_usd, SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_requests, ` +
    `SUM(saved_usd) AS saved_usd, SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS cache_hits ` +
    `FROM ${TABLE}${w} GROUP BY ${g}`;
  return { text, params: p.values };
}

/** The latest rows, newest first; request id breaks ties so the order is total. */
export function recentSql(d: Dialect, limit: number, f: UsageFilter): Sql {
  const p = new Params(d);
  const w = where(p, f);
  const text = `SELECT ${COLUMNS.map((c) => c.name).join(", ")} FROM ${TABLE}${w} ORDER BY ts DESC, request_id DESC LIMIT ${p.add(limit)}`;
  return { text, params: p.values };
}

/** A usage result row as numbers (PostgreSQL returns SUM and COUNT of BIGINT as strings). */
export function decodeTotals(r: Record<string, unknown>): UsageTotals {
  const n = (k: string) => Number(r[k] ?? 0);
  const orNull = (k: string) => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
  return {
    group: r.grp === null || r.grp === undefined ? null : String(r.grp),
    requests: n("requests"),
    inputTokens: n("input_tokens"),
    cachedInputTokens: n("cached_input_tokens"),
    cacheWriteTokens: n("cache_write_tokens"),
    cacheWrite1hTokens: n("cache_write_1h_tokens"),
    outputTokens: n("output_tokens"),
    reasoningTokens: n("reasoning_tokens"),
    costUsd: orNull("cost_usd"),
    unpricedRequests: n("unpriced_requests"),
    savedUsd: orNull("saved_usd"),
    cacheHits: n("cache_hits"),
  };
}
