/**
 * The ledger in PostgreSQL (through `pg`), for gateways that share one ledger or want it off the
 * machine. Same table and columns as SQLite (schema.ts). A batch is one multi-row INSERT: a single
 * statement is its own transaction, so the batch commits whole or not at all in one round trip.
 * Durability is the server's: a COMMIT that returned is durable as its synchronous_commit says
 * (on by default: flushed to its WAL).
 */
import pg from "pg";
import type { LedgerRow } from "./row.js";
import { COLUMNS, decodeRow, migrations, rowValues, VERSION_TABLE } from "./schema.js";
import { decodeTotals, insertSql, recentSql, usageSql } from "./sql.js";
import type { GroupBy, LedgerStore, UsageFilter, UsageTotals } from "./store.js";

export interface PostgresStoreOptions {
  /** Connections in the pool (default 4: the writer and a few readers). */
  max?: number;
  /** Ms a statement may run before the server cancels it, and the client gives up shortly after (default 10000). */
  statementTimeoutMs?: number;
  /** Ms to wait for a connection (default 5000). */
  connectTimeoutMs?: number;
  /**
   * Told about errors of idle pooled connections (the server restarted, the network dropped):
   * they fail no call (the next call reconnects) but must not pass unseen. Default: one line
   * on stderr.
   */
  onError?: (e: Error) => void;
}

/** PostgreSQL's limit on a statement's parameters; a larger batch is split into several INSERTs in one transaction. */
const MAX_PARAMS = 65535;
/** Serializes concurrent migrations (any constant both openers share). */
const MIGRATION_LOCK = 0x1ed9e7;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    // not a URL the WHATWG parser takes (a libpq key=value string): show no part of it
    return "postgres (connection string)";
  }
}

export class PostgresStore implements LedgerStore {
  readonly dialect = "postgres" as const;

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
  ) {}

  /** Connects, and migrates the schema (under an advisory lock, so two gateways opening at once do not race). */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const statementTimeout = opts.statementTimeoutMs ?? 10_000;
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      statement_timeout: statementTimeout,
      // the client-side bound, for a server that does not answer at all
      query_timeout: statementTimeout + 2000,
      application_name: "inferd-ledger",
    });
    const onError = opts.onError ?? ((e: Error) => process.stderr.write(`[ledger] postgres connection error: ${e.message}\n`));
    pool.on("error", onError);
    const store = new PostgresStore(pool, redactUrl(url));
    try {
      await store.migrate();
      return store;
    } catch (e) {
      await pool.end();
      throw e;
    }
  }

  private async migrate(): Promise<void> {
    const steps = migrations("postgres");
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER NOT NULL)`);
      const have = Number((await client.query(`SELECT COALESCE(MAX(version), 0) AS v FROM ${VERSION_TABLE}`)).rows[0].v);
      if (have > steps.length) throw new Error(`the ledger's schema is version ${have}, newer than this inferd's (${steps.length})`);
      for (let v = have + 1; v <= steps.length; v++) {
        for (const stmt of steps[v - 1]!) await client.query(stmt);
        await client.query(`INSERT INTO ${VERSION_TABLE} (version) VALUES ($1)`, [v]);
      }
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch((r: unknown) => {
        // the connection may be gone; the migration's own error is the one to report
        process.stderr.write(`[ledger] rollback after a failed migration failed too: ${String(r)}\n`);
      });
      throw e;
    } finally {
      client.release();
    }
  }

  async insert(rows: readonly LedgerRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const per = Math.floor(MAX_PARAMS / COLUMNS.length);
    if (rows.length <= per) return (await this.pool.query(insertSql("postgres", rows.length), rows.flatMap((r) => rowValues(r, "postgres")))).rowCount ?? 0;
    const client = await this.pool.connect();
    let added = 0;
    try {
      await client.query("BEGIN");
      for (let i = 0; i < rows.length; i += per) {
        const chunk = rows.slice(i, i + per);
        added += (await client.query(insertSql("postgres", chunk.length), chunk.flatMap((r) => rowValues(r, "postgres")))).rowCount ?? 0;
      }
      await client.query("COMMIT");
    } catch (e) {
      // a ROLLBACK that fails means a broken connection: destroy it rather than pool it
      const broken = await client.query("ROLLBACK").then(
        () => undefined,
        (r: unknown) => (r instanceof Error ? r : new Error(String(r))),
      );
      client.release(broken);
      throw e;
    }
    client.release();
    return added;
  }

  async usage(by: GroupBy, filter: UsageFilter): Promise<UsageTotals[]> {
    const q = usageSql("postgres", by, filter);
    return (await this.pool.query(q.text, q.params)).rows.map(decodeTotals);
  }

  async recent(limit: number, filter: UsageFilter): Promise<LedgerRow[]> {
    const q = recentSql("postgres", limit, filter);
    return (await this.pool.query(q.text, q.params)).rows.map(decodeRow);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
