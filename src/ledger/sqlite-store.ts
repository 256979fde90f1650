/**
 * The default ledger store: one SQLite file (by default $INFERD_HOME/ledger.sqlite) through
 * better-sqlite3, in WAL mode.
 *
 * Durability: with journal_mode=WAL, a commit appends the transaction to the -wal file with
 * write(2) before it returns; synchronous=NORMAL leaves the fsync to checkpoints. The data is then
 * in the OS's page cache, which outlives the process: a commit survives the process being killed
 * (kill -9, a crash) and the database stays consistent. Only an OS crash or power loss can undo
 * the latest commits (never corrupt the file); `synchronous: "full"` fsyncs every commit to close
 * that too, at a disk flush per batch. test/ledger-kill.test.ts checks the kill -9 case.
 *
 * better-sqlite3 is synchronous: a batch's insert blocks the event loop while it runs. It is kept
 * small (one prepared statement run per row inside one transaction): about 10 us per row in
 * batches of 16-256 and 60 us for a transaction of one (test/measure-ledger.ts). SQLite's
 * automatic checkpoint (every ~4 MB of WAL) runs inside the commit that crosses it and fsyncs,
 * so that one batch blocks a few ms longer.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { inferdHome } from "../util/paths.js";
import { InferdError } from "../util/errors.js";
import type { LedgerRow } from "./row.js";
import { decodeRow, migrations, rowValues, VERSION_TABLE } from "./schema.js";
import { decodeTotals, insertSql, recentSql, usageSql } from "./sql.js";
import type { GroupBy, LedgerStore, UsageFilter, UsageTotals } from "./store.js";

/** The default ledger file: $INFERD_HOME/ledger.sqlite. */
export function defaultLedgerPath(): string {
  return join(inferdHome(), "ledger.sqlite");
}

/** "normal": durable across a process kill (the default); "full": across power loss too. */
export type SqliteSync = "normal" | "full";

export interface SqliteStoreOptions {
  synchronous?: SqliteSync;
  /** Refuse to create the file (readers such as `inferd usage` should not make an empty ledger). */
  mustExist?: boolean;
  /** Ms another connection's write lock is waited for before an insert fails (default 5000). */
  busyTimeoutMs?: number;
}

/** The SQLite ledger store; `open` makes the folder and file and migrates the schema. */
export class SqliteStore implements LedgerStore {
  readonly dialect = "sqlite" as const;
  private readonly insertRow: Database.Statement;
  private readonly insertMany: (rows: readonly LedgerRow[]) => number;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    this.insertRow = db.prepare(insertSql("sqlite", 1));
    // db.transaction wraps the calls in BEGIN/COMMIT (ROLLBACK on a throw): one commit per batch
    this.insertMany = db.transaction((rows: readonly LedgerRow[]) => {
      let added = 0;
      for (const r of rows) added += this.insertRow.run(rowValues(r, "sqlite")).changes;
      return added;
    });
  }

  static open(path: string = defaultLedgerPath(), opts: SqliteStoreOptions = {}): SqliteStore {
    if (opts.mustExist && !existsSync(path)) throw new InferdError("invalid_argument", `no ledger at ${path} (it is made by the first request that inferd serve records)`);
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") throw new Error(`cannot put ${path} in WAL mode (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${(opts.synchronous ?? "normal").toUpperCase()}`);
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
      migrate(db);
      return new SqliteStore(db, path);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async insert(rows: readonly LedgerRow[]): Promise<number> {
    return this.insertMany(rows);
  }

  async usage(by: GroupBy, filter: UsageFilter): Promise<UsageTotals[]> {
    const q = usageSql("sqlite", by, filter);
    return (this.db.prepare(q.text).all(...q.params) as Record<string, unknown>[]).map(decodeTotals);
  }

  async recent(limit: number, filter: UsageFilter): Promise<LedgerRow[]> {
    const q = recentSql("sqlite", limit, filter);
    return (this.db.prepare(q.text).all(...q.params) as Record<string, unknown>[]).map(decodeRow);
  }

  /** PRAGMA integrity_check's answer: "ok" for a sound file (the kill -9 test asks). */
  integrityCheck(): string {
    return String(this.db.pragma("integrity_check", { simple: true }));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** Applies the migrations the file lacks, in one IMMEDIATE transaction (two openers do not race). */
function migrate(db: Database.Database): void {
  const steps = migrations("sqlite");
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER NOT NULL) STRICT`);
    const row = db.prepare(`SELECT MAX(version) AS v FROM ${VERSION_TABLE}`).get() as { v: number | null };
    const have = row.v ?? 0;
    if (have > steps.length) throw new Error(`the ledger's schema is version ${have}, newer than this inferd's (${steps.length})`);
    for (let v = have + 1; v <= steps.length; v++) {
      for (const stmt of steps[v - 1]!) db.exec(stmt);
      db.prepare(`INSERT INTO ${VERSION_TABLE} (version) VALUES (?)`).run(v);
    }
  }).immediate();
}
