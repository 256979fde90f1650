/**
 * Opens the configured ledger store: the SQLite file (default $INFERD_HOME/ledger.sqlite) unless
 * a PostgreSQL URL is given. The one place that picks between them, for `serve` and `usage`.
 */
import { assertNever } from "../util/assert-never.js";
import type { PostgresStoreOptions } from "./postgres-store.js";
import { defaultLedgerPath, SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
import type { LedgerStore } from "./store.js";

/** Where the ledger lives. */
export type LedgerLocation = { kind: "sqlite"; path?: string; options?: SqliteStoreOptions } | { kind: "postgres"; url: string; options?: PostgresStoreOptions };

/** Opens (and migrates) the store at `where`. */
export async function openLedgerStore(where: LedgerLocation): Promise<LedgerStore> {
  const kind = where.kind;
  switch (kind) {
    case "sqlite":
      return SqliteStore.open(where.path ?? defaultLedgerPath(), where.options);
    case "postgres": {
      // loaded only when asked for: importing pg costs ~50 ms of every CLI start otherwise
      const { PostgresStore } = await import("./postgres-store.js");
      return PostgresStore.open(where.url, where.options);
    }
    default:
      return assertNever(kind);
  }
}

/** A URL for PostgreSQL (postgres:// or postgresql://), else a SQLite file path. */
export function ledgerLocationOf(spec: string): LedgerLocation {
  return /^postgres(ql)?:\/\//i.test(spec) ? { kind: "postgres", url: spec } : { kind: "sqlite", path: spec };
}
