/**
 * Opens the configured ledger store: the SQLite file (default $INFERD_HOME/ledger.sqlite) unless
 * a PostgreSQL URL is given. The one place that picks between them, for `serve` and `usage`.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assertNever } from "../util/assert-never.js";
import { inferdHome } from "../util/paths.js";
import { Journal } from "./journal.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import type { PostgresStoreOptions } from "./postgres-store.js";
import { defaultLedgerPath, SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
import type { LedgerStore } from "./store.js";

/** Where the ledger lives; `thread`: SQLite's commits on a worker thread (a server's event loop never waits for them). */
export type LedgerLocation = { kind: "sqlite"; path?: string; options?: SqliteStoreOptions; thread?: boolean } | { kind: "postgres"; url: string; options?: PostgresStoreOptions };

/** Opens (and migrates) the store at `where`. */
export async function openLedgerStore(where: LedgerLocation): Promise<LedgerStore> {
  const kind = where.kind;
  switch (kind) {
    case "sqlite":
      if (where.thread) return (await import("./sqlite-thread-store.js")).SqliteThreadStore.open(where.path ?? defaultLedgerPath(), where.options);
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

/** Where the journal in front of the ledger at `where` lives (one folder per ledger, a subfolder per process). */
export function journalBaseOf(where: LedgerLocation): string {
  switch (where.kind) {
    case "sqlite":
      // not "-journal": SQLite takes a file of that name beside the database for its own rollback journal
      return `${where.path ?? defaultLedgerPath()}.pending-rows`;
    case "postgres":
      return join(inferdHome(), `ledger-journal-postgres-${createHash("sha256").update(where.url).digest("hex").slice(0, 12)}`);
    default:
      return assertNever(where);
  }
}

/**
 * A server's ledger: the store at `where` behind a journal (see journal.ts), with what dead
 * processes left in the journal written first. `inferd serve` records through this.
 */
export async function openJournaledLedger(where: LedgerLocation, options: Omit<LedgerOptions, "journal"> = {}): Promise<Ledger> {
  const store = await openLedgerStore(where);
  const { journal, leftover } = Journal.open(journalBaseOf(where));
  return new Ledger(store, { ...options, journal, leftover });
}
