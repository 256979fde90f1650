/**
 * The ledger's one table, described once and written as DDL for each store's SQL dialect, so
 * SQLite and PostgreSQL hold the same columns under the same names and constraints. Migrations
 * are numbered; each store applies the ones a database lacks on open (idempotent: opening an
 * up-to-date database changes nothing).
 */
import { assertNever } from "../util/assert-never.js";
import type { LedgerRow } from "./row.js";

/** The SQL dialects the ledger speaks. */
export type Dialect = "sqlite" | "postgres";

/** A column's kind; each dialect has its own type for it. */
type Kind = "int" | "real" | "text" | "bool";

interface Column {
  name: string;
  field: keyof LedgerRow;
  kind: Kind;
  nullable: boolean;
  /** A CHECK over the column (the same text in both dialects). */
  check?: string;
}

const col = (name: string, field: keyof LedgerRow, kind: Kind, nullable = false, check?: string): Column => ({ name, field, kind, nullable, check });
const tokens = (name: string, field: keyof LedgerRow) => col(name, field, "int", false, `${name} >= 0`);

/** The columns in insert order. `end_user` because `user` is reserved in PostgreSQL. */
export const COLUMNS: readonly Column[] = [
  col("ts", "ts", "int"),
  col("request_id", "requestId", "text"),
  col("key_id", "keyId", "text", true),
  col("end_user", "user", "text", true),
  col("tag", "tag", "text", true),
  col("model_requested", "modelRequested", "text"),
  col("provider", "provider", "text", true),
  col("model", "model", "text", true),
  tokens("input_tokens", "inputTokens"),
  tokens("cached_input_tokens", "cachedInputTokens"),
  tokens("cache_write_tokens", "cacheWriteTokens"),
  tokens("cache_write_1h_tokens", "cacheWrite1hTokens"),
  tokens("output_tokens", "outputTokens"),
  tokens("reasoning_tokens", "reasoningTokens"),
  col("cost_usd", "costUsd", "real", true),
  col("saved_usd", "savedUsd", "real", true),
  col("queue_ms", "queueMs", "real"),
  col("ttft_ms", "ttftMs", "real", true),
  col("total_ms", "totalMs", "real"),
  col("cache_hit", "cacheHit", "bool"),
  col("estimated", "estimated", "bool"),
  col("finish_reason", "finishReason", "text", true),
  col("status", "status", "int"),
  col("error_code", "errorCode", "text", true),
  col("route", "route", "text", true),
  col("outcome", "outcome", "text", false, "outcome IN ('ok', 'error', 'refused', 'cancelled')"),
];

export const TABLE = "ledger";

function sqlType(kind: Kind, d: Dialect): string {
  switch (d) {
    case "sqlite":
      // STRICT tables know INTEGER, REAL, TEXT; booleans are 0/1 (the CHECK keeps them so)
      return kind === "text" ? "TEXT" : kind === "real" ? "REAL" : "INTEGER";
    case "postgres":
      switch (kind) {
        case "int":
          return "BIGINT";
        case "real":
          return "DOUBLE PRECISION";
        case "text":
          return "TEXT";
        case "bool":
          return "BOOLEAN";
        default:
          return assertNever(kind);
      }
    default:
      return assertNever(d);
  }
}

function columnDdl(c: Column, d: Dialect): string {
  const checks = [c.check, c.kind === "bool" && d === "sqlite" ? `${c.name} IN (0, 1)` : undefined].filter((x) => x !== undefined);
  return [c.name, sqlType(c.kind, d), c.nullable ? "" : "NOT NULL", c.name === "request_id" ? "PRIMARY KEY" : "", ...checks.map((x) => `CHECK (${x})`)].filter((x) => x !== "").join(" ");
}

/**
 * Migrations by version (index + 1), as statements per dialect. Indexes serve the queries:
 * `ts` for --since and "the last N requests", (key_id, ts) for a key's own usage, and
 * (model_requested, ts) for one model's rows; other groupings scan the --since range.
 */
export function migrations(d: Dialect): string[][] {
  return [
    [
      `CREATE TABLE IF NOT EXISTS ${TABLE} (\n  ${COLUMNS.map((c) => columnDdl(c, d)).join(",\n  ")}\n)${d === "sqlite" ? " STRICT" : ""}`,
      `CREATE INDEX IF NOT EXISTS ${TABLE}_ts ON ${TABLE} (ts)`,
      `CREATE INDEX IF NOT EXISTS ${TABLE}_key_ts ON ${TABLE} (key_id, ts)`,
      `CREATE INDEX IF NOT EXISTS ${TABLE}_model_ts ON ${TABLE} (model_requested, ts)`,
    ],
  ];
}

/** The table recording which migrations a database has had. */
export const VERSION_TABLE = "ledger_schema";
export const SCHEMA_VERSION = migrations("sqlite").length;

/** A row's values in COLUMNS order, as the dialect stores them (SQLite: booleans as 0/1). */
export function rowValues(row: LedgerRow, d: Dialect): unknown[] {
  return COLUMNS.map((c) => {
    const v = row[c.field];
    return c.kind === "bool" && d === "sqlite" ? (v ? 1 : 0) : v;
  });
}

/**
 * A row back from the database. PostgreSQL's driver returns BIGINT as a string (it may not fit
 * a double); ledger integers are safe integers, checked at append, so Number() is exact.
 */
export function decodeRow(r: Record<string, unknown>): LedgerRow {
  const out: Record<string, unknown> = {};
  for (const c of COLUMNS) {
    const v = r[c.name];
    if (v === null || v === undefined) out[c.field] = null;
    else if (c.kind === "bool") out[c.field] = v === true || v === 1;
    else if (c.kind === "int" || c.kind === "real") out[c.field] = Number(v);
    else out[c.field] = v;
  }
  return out as unknown as LedgerRow;
}
