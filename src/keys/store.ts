/**
 * The virtual-key store: one SQLite file (`$INFERD_HOME/keys.sqlite`, WAL) holding each key's
 * settings and the SHA-256 of its secret, never the secret (see key-format.ts for why a plain
 * hash is right for random keys). It also keeps the in-process limiter's spend per period, so
 * a restart does not forget what a key spent this month and `inferd keys list` can show it.
 *
 * Every `verify` reads the file, so a key revoked by the CLI stops working in a running server
 * at its next request. better-sqlite3 is synchronous: a lookup is a few microseconds on an
 * indexed column, and it lets the in-process limiter stay atomic (no await inside a check).
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { InferdError } from "../util/errors.js";
import { inferdHome } from "../util/paths.js";
import { normalizeSpec, type ApiKey, type KeySpec } from "./api-key.js";
import { digestsEqual, generateKey, hashKey, looksLikeKey, randomId } from "./key-format.js";
import type { SpendLedger } from "./limits.js";
import type { Period } from "./periods.js";

/** Where the key store lives: `$INFERD_HOME/keys.sqlite`. */
export function keysDbPath(): string {
  return join(inferdHome(), "keys.sqlite");
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash BLOB NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  budget_usd REAL,
  period TEXT NOT NULL CHECK (period IN ('day', 'month')),
  soft INTEGER NOT NULL,
  rpm INTEGER,
  tpm INTEGER,
  models TEXT
) STRICT;
-- names are unique among working keys; a revoked key's name can be given to a new one
CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL;
CREATE TABLE spend (
  key_id TEXT NOT NULL REFERENCES keys (id),
  period_start INTEGER NOT NULL,
  spent_nano INTEGER NOT NULL,
  PRIMARY KEY (key_id, period_start)
) STRICT;
`;

interface Row {
  id: string;
  name: string;
  hash: Buffer;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
  budget_usd: number | null;
  period: Period;
  soft: number;
  rpm: number | null;
  tpm: number | null;
  models: string | null;
}

function toKey(r: Row): ApiKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    createdAt: new Date(r.created_at).toISOString(),
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at).toISOString(),
    budgetUsd: r.budget_usd,
    period: r.period,
    soft: r.soft !== 0,
    rpm: r.rpm,
    tpm: r.tpm,
    models: r.models === null ? null : (JSON.parse(r.models) as string[]),
  };
}

/** The SQLite key store. Also the in-process limiter's spend ledger. */
export class KeyStore implements SpendLedger {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  /** Opens (creating it, readable by its owner only) the store at `path`. */
  constructor(readonly path: string = keysDbPath()) {
    mkdirSync(dirname(path), { recursive: true });
    // create the file ourselves so it is 0600 from the start; SQLite gives -wal/-shm the same mode
    closeSync(openSync(path, "a", 0o600));
    this.db = new Database(path, { timeout: 5000 });
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.migrate();
  }

  /** A prepared statement, compiled once per store (these run on every request). */
  private q(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version === SCHEMA_VERSION) return;
    if (version > SCHEMA_VERSION) {
      throw new InferdError("invalid_argument", `${this.path} was written by a newer inferd (schema ${version}, this one knows ${SCHEMA_VERSION})`);
    }
    this.db.transaction(() => {
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  }

  /**
   * Creates a key and returns it with its plaintext secret, which exists nowhere else
   * afterwards: show it to the user once.
   */
  create(spec: KeySpec, now = Date.now()): { key: ApiKey; plaintext: string } {
    const s = normalizeSpec(spec);
    const secret = generateKey();
    const id = `key_${randomId(16)}`;
    try {
      this
        .q(
          `INSERT INTO keys (id, name, hash, prefix, created_at, revoked_at, budget_usd, period, soft, rpm, tpm, models)
           VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, s.name, secret.hash, secret.prefix, now, s.budgetUsd, s.period, s.soft ? 1 : 0, s.rpm, s.tpm, s.models === null ? null : JSON.stringify(s.models));
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE" && /keys\.name/.test((e as Error).message)) {
        throw new InferdError("invalid_argument", `a key named "${s.name}" already exists (revoke it first, or pick another name)`, { param: "name" });
      }
      throw e;
    }
    return { key: this.get(id)!, plaintext: secret.plaintext };
  }

  /**
   * The working key whose secret is `plaintext`, or undefined (unknown, malformed or revoked).
   * The lookup is by the secret's hash; the hashes are then compared in constant time, so the
   * answer's timing depends on nothing an attacker could use to build a valid key.
   */
  verify(plaintext: string | undefined): ApiKey | undefined {
    if (plaintext === undefined || !looksLikeKey(plaintext)) return undefined;
    const hash = hashKey(plaintext);
    const row = this.q("SELECT * FROM keys WHERE hash = ?").get(hash) as Row | undefined;
    if (row === undefined || !digestsEqual(row.hash, hash) || row.revoked_at !== null) return undefined;
    return toKey(row);
  }

  /** The key with this id, or the working key with this name (revoked ones by id only). */
  get(nameOrId: string): ApiKey | undefined {
    const row = this
      .q("SELECT * FROM keys WHERE id = ? OR (name = ? AND revoked_at IS NULL) ORDER BY id = ? DESC LIMIT 1")
      .get(nameOrId, nameOrId, nameOrId) as Row | undefined;
    return row === undefined ? undefined : toKey(row);
  }

  /** Keys by name (working ones; revoked ones too with `includeRevoked`), without secrets. */
  list(opts: { includeRevoked?: boolean } = {}): ApiKey[] {
    const rows = this
      .q(`SELECT * FROM keys ${opts.includeRevoked ? "" : "WHERE revoked_at IS NULL"} ORDER BY name, created_at`)
      .all() as Row[];
    return rows.map(toKey);
  }

  /** Revokes a working key by name or id; it fails `verify` from now on. Unknown: invalid_argument. */
  revoke(nameOrId: string, now = Date.now()): ApiKey {
    const key = this.get(nameOrId);
    if (key === undefined || key.revokedAt !== null) {
      throw new InferdError("invalid_argument", key === undefined ? `no key named "${nameOrId}" (nor with that id)` : `the key "${key.name}" (${key.id}) is already revoked`);
    }
    this.q("UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now, key.id);
    return this.get(key.id)!;
  }

  /** SpendLedger: nano-USD the key spent in the period starting at `periodStart` (0 if none). */
  spentNano(keyId: string, periodStart: number): number {
    const row = this.q("SELECT spent_nano FROM spend WHERE key_id = ? AND period_start = ?").get(keyId, periodStart) as { spent_nano: number } | undefined;
    return row?.spent_nano ?? 0;
  }

  /** SpendLedger: adds to what the key spent in that period (an upsert, so concurrent writers add up). */
  addSpent(keyId: string, periodStart: number, nano: number): void {
    this
      .q(
        `INSERT INTO spend (key_id, period_start, spent_nano) VALUES (?, ?, ?)
         ON CONFLICT (key_id, period_start) DO UPDATE SET spent_nano = spent_nano + excluded.spent_nano`,
      )
      .run(keyId, periodStart, nano);
  }

  close(): void {
    this.db.close();
  }
}
