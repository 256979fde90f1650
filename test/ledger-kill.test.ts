/**
 * The ledger's durability promise: a row whose append resolved survives the process being
 * killed with SIGKILL mid-load. A child (ledger-child.ts) appends under concurrency and prints
 * each acknowledged id; the test kills it, reopens the ledger and looks for every printed id.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ledgerLocationOf, openLedgerStore } from "../src/ledger/open.js";
import { SqliteStore } from "../src/ledger/sqlite-store.js";
import { packageRoot } from "../src/util/paths.js";
import { needsPostgres, startPostgres, type PostgresServer } from "./postgres.js";

const CHILD = join(packageRoot(), "dist", "test", "ledger-child.js");

/** Runs the child on `spec` until it has acknowledged `acks` rows (and `extraMs` more), kills it, and returns the acknowledged ids. */
async function killMidLoad(spec: string, prefix: string, acks: number, extraMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, spec, prefix], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  await new Promise<void>((resolve, reject) => {
    let killing = false;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!killing && out.split("\n").length - 2 >= acks) {
        killing = true;
        setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, extraMs);
      }
    });
    void exited.then((how) => reject(new Error(`the child ended by itself (${how}) before the kill: ${err}`)));
  });
  assert.equal(await exited, "SIGKILL", err);
  // only whole lines: a line cut by the kill was not acknowledged in full
  const lines = out.split("\n").slice(0, -1);
  assert.equal(lines[0], "ready");
  return lines.slice(1);
}

async function storedIds(spec: string): Promise<Set<string>> {
  const store = await openLedgerStore(ledgerLocationOf(spec));
  try {
    return new Set((await store.recent(10_000_000, {})).map((r) => r.requestId));
  } finally {
    await store.close();
  }
}

function assertAllStored(acked: string[], stored: Set<string>): void {
  const missing = acked.filter((id) => !stored.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${acked.length} acknowledged rows are missing after kill -9`);
  assert.ok(acked.length >= 300, `only ${acked.length} acks`);
}

describe("kill -9 mid-load: every acknowledged row is in the ledger", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "inferd-ledger-kill-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("SQLite (WAL, synchronous=NORMAL): rows survive, the file is sound, over three kills", async () => {
    const path = join(dir, "ledger.sqlite");
    const acked: string[] = [];
    for (const [i, extra] of [5, 23, 61].entries()) {
      const ids = await killMidLoad(path, `s${i}`, 300, extra);
      acked.push(...ids);
      const stored = await storedIds(path);
      assertAllStored(ids, stored);
      // rows committed but not yet printed may be there too; nothing else may be
      assert.ok([...stored].every((id) => /^s\d-\d+$/.test(id)));
    }
    const store = SqliteStore.open(path);
    try {
      assert.equal(store.integrityCheck(), "ok");
      assert.ok((await store.recent(10_000_000, {})).length >= acked.length);
    } finally {
      await store.close();
    }
  });

  describe("PostgreSQL (the server outlives the child)", needsPostgres, () => {
    let server: PostgresServer;
    before(async () => {
      server = await startPostgres();
    });
    after(async () => {
      await server?.stop();
    });

    it("rows survive two kills", async () => {
      const url = await server.createDatabase("kill_test");
      for (const [i, extra] of [7, 41].entries()) {
        const ids = await killMidLoad(url, `p${i}`, 300, extra);
        assertAllStored(ids, await storedIds(url));
      }
    });
  });
});
