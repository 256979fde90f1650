/** The SQLite ledger store on real files in a temporary folder: the shared store suite, and what is SQLite's own. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { openLedgerStore } from "../src/ledger/open.js";
import { defaultLedgerPath, SqliteStore } from "../src/ledger/sqlite-store.js";
import { SqliteThreadStore } from "../src/ledger/sqlite-thread-store.js";
import { sampleRow } from "./ledger-fixtures.js";
import { ledgerStoreSuite } from "./ledger-store-suite.js";

const dir = mkdtempSync(join(tmpdir(), "inferd-ledger-sqlite-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe("SQLite ledger store", { timeout: 60_000 }, () => {
  ledgerStoreSuite(async () => {
    const path = join(dir, `suite-${++n}`, "ledger.sqlite");
    return { open: async () => SqliteStore.open(path) };
  });

  describe("on its own thread (what inferd serve writes through)", () => {
    ledgerStoreSuite(async () => {
      const path = join(dir, `thread-${++n}`, "ledger.sqlite");
      return { open: async () => SqliteThreadStore.open(path) };
    });
  });

  it("lives in $INFERD_HOME/ledger.sqlite by default, in WAL mode, one schema version row however often opened", async () => {
    const home = join(dir, "home");
    const saved = process.env.INFERD_HOME;
    process.env.INFERD_HOME = home;
    try {
      assert.equal(defaultLedgerPath(), join(home, "ledger.sqlite"));
      for (let i = 0; i < 3; i++) await (await openLedgerStore({ kind: "sqlite" })).close();
    } finally {
      if (saved === undefined) delete process.env.INFERD_HOME;
      else process.env.INFERD_HOME = saved;
    }
    const raw = new Database(join(home, "ledger.sqlite"), { readonly: true });
    try {
      assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
      assert.deepEqual(raw.prepare("SELECT version FROM ledger_schema").all(), [{ version: 1 }]);
      const indexes = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger' AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name).sort();
      assert.deepEqual(indexes, ["ledger_key_ts", "ledger_model_ts", "ledger_ts"]);
    } finally {
      raw.close();
    }
  });

  it("a reader asking for an existing ledger gets an error for a missing file, and no file is made", () => {
    const path = join(dir, "missing", "ledger.sqlite");
    assert.throws(() => SqliteStore.open(path, { mustExist: true }), /no ledger at/);
    assert.equal(existsSync(path), false);
  });

  it("refuses a file whose schema is newer than this inferd's", async () => {
    const path = join(dir, "newer.sqlite");
    await SqliteStore.open(path).close();
    const raw = new Database(path);
    raw.prepare("INSERT INTO ledger_schema (version) VALUES (99)").run();
    raw.close();
    assert.throws(() => SqliteStore.open(path), /version 99, newer/);
  });

  it("the table is STRICT: a wrongly typed value is refused by SQLite itself", async () => {
    const path = join(dir, "strict.sqlite");
    const s = SqliteStore.open(path);
    await assert.rejects(s.insert([{ ...sampleRow(1), inputTokens: "twelve" as unknown as number }]), /cannot store TEXT value in INTEGER column/);
    assert.equal(s.integrityCheck(), "ok");
    await s.close();
  });
});
