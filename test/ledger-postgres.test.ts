/**
 * The PostgreSQL ledger store against a real server this file starts (test/postgres.ts): the
 * shared store suite, each test in a database of its own, and what is PostgreSQL's own.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { PostgresStore, redactUrl } from "../src/ledger/postgres-store.js";
import { Ledger } from "../src/ledger/ledger.js";
import { sampleRow } from "./ledger-fixtures.js";
import { ledgerStoreSuite } from "./ledger-store-suite.js";
import { needsPostgres, startPostgres, type PostgresServer } from "./postgres.js";

describe("PostgreSQL ledger store", { ...needsPostgres, timeout: 120_000 }, () => {
  let server: PostgresServer;
  let n = 0;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  ledgerStoreSuite(async () => {
    const url = await server.createDatabase(`suite_${++n}`);
    return { open: () => PostgresStore.open(url, { onError: (e) => assert.fail(`pool error: ${e.message}`) }) };
  });

  it("has one schema version row after concurrent opens, and the same indexes as SQLite", async () => {
    const url = await server.createDatabase("schema_check");
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      assert.deepEqual((await c.query("SELECT version FROM ledger_schema")).rows, [{ version: 1 }]);
      const idx = (await c.query("SELECT indexname FROM pg_indexes WHERE tablename = 'ledger' AND indexname <> 'ledger_pkey' ORDER BY indexname")).rows.map((r) => r.indexname);
      assert.deepEqual(idx, ["ledger_key_ts", "ledger_model_ts", "ledger_ts"]);
    } finally {
      await c.end();
    }
  });

  it("a ledger whose server is gone rejects appends after its retries, keeps the rows, and says so on close", async () => {
    // a second server, stopped under the ledger: its connections are refused from then on
    const other = await startPostgres();
    let gone: PostgresStore;
    // the idle pooled connection dies with the server: expected here, kept to look at
    const poolErrors: Error[] = [];
    try {
      gone = await PostgresStore.open(await other.createDatabase("doomed"), { connectTimeoutMs: 1000, onError: (e) => poolErrors.push(e) });
    } finally {
      await other.stop();
    }
    const errors: unknown[] = [];
    const ledger = new Ledger(gone, { retries: 1, backoffMs: 1, maxBackoffMs: 5, onWriteError: (e) => errors.push(e) });
    const r = await ledger.append(sampleRow(1)).then(() => "resolved", (e: { reason: string; queued: boolean }) => `${e.reason}:${e.queued}`);
    assert.equal(r, "write_failed:true");
    assert.ok(ledger.stats.failedWrites >= 2);
    assert.equal(ledger.stats.pending, 1);
    await assert.rejects(ledger.close(200), /closed with 1 rows/);
    assert.equal(ledger.stats.dropped, 1);
    assert.ok(errors.length >= 2);
    assert.ok(poolErrors.every((e) => /terminat|shutdown|ECONNRESET|Connection/i.test(e.message)), poolErrors.map((e) => e.message).join("; "));
  });

  it("redacts the password from its location", () => {
    assert.equal(redactUrl("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
    assert.doesNotMatch(redactUrl("host=h password=secret"), /secret/);
  });
});
