/**
 * What the ledger needs from a database: insert a batch in one transaction, and answer the
 * usage queries. SQLite (sqlite-store.ts) and PostgreSQL (postgres-store.ts) implement it; the
 * batching (ledger.ts) sits over either, and its tests use an in-memory one.
 */
import type { LedgerRow } from "./row.js";
import type { Dialect } from "./schema.js";

/** What `inferd usage --by` groups on: key id, model asked for, provider that answered, UTC day, tag. */
export type GroupBy = "key" | "model" | "provider" | "day" | "tag";

export const GROUP_BYS: readonly GroupBy[] = ["key", "model", "provider", "day", "tag"];

/** Which rows a query reads. Times are ms epoch; `keyId` restricts it to one key (a key sees only its own usage). */
export interface UsageFilter {
  /** Rows with ts >= since. */
  since?: number;
  /** Rows with ts < until. */
  until?: number;
  keyId?: string;
}

/** One group's sums. */
export interface UsageTotals {
  /** The group's value as stored (a key id, not its name; "YYYY-MM-DD" for a day); null: rows without one. */
  group: string | null;
  requests: number;
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /**
   * The sum of the known costs; null only when no row of the group has one. With
   * `unpricedRequests` > 0 it is a lower bound: those rows' costs are unknown, not zero.
   */
  costUsd: number | null;
  /** Rows whose cost is unknown (cost_usd null). */
  unpricedRequests: number;
  /** The sum of the known savings; null when no row has one. */
  savedUsd: number | null;
  /** Rows where a cache held part of the prompt or answered. */
  cacheHits: number;
}

export interface LedgerStore {
  readonly dialect: Dialect;
  /** Where it is (a file path, or a URL without its password), for messages. */
  readonly location: string;
  /**
   * Stores `rows` in ONE transaction: all are durable when it resolves, none when it rejects.
   * A row whose request id is already stored is skipped (so retrying a batch whose commit was
   * in doubt cannot duplicate rows). Resolves with how many rows were new. Settles within a
   * bound: each store sets its own timeouts, so a hung database fails the call instead.
   */
  insert(rows: readonly LedgerRow[]): Promise<number>;
  /** Sums per group of the rows the filter selects, in no particular order. */
  usage(by: GroupBy, filter: UsageFilter): Promise<UsageTotals[]>;
  /** The `limit` latest rows the filter selects, newest first (ties by request id, descending). */
  recent(limit: number, filter: UsageFilter): Promise<LedgerRow[]>;
  close(): Promise<void>;
}
