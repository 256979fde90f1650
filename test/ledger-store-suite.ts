/**
 * The tests every ledger store must pass, run against SQLite (ledger-sqlite.test.ts) and a real
 * PostgreSQL server (ledger-postgres.test.ts). `fresh()` gives an empty ledger location that can
 * be opened more than once.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { Ledger } from "../src/ledger/ledger.js";
import type { LedgerRow } from "../src/ledger/row.js";
import { GROUP_BYS, type LedgerStore } from "../src/ledger/store.js";
import { usageJson, usageReport } from "../src/ledger/usage.js";
import { BASE_TS, referenceUsage, roundTotals, sampleRow, sortTotals } from "./ledger-fixtures.js";

export interface StoreLocation {
  open(): Promise<LedgerStore>;
}

const byId = (a: LedgerRow, b: LedgerRow) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store that records each insert call (one call = one transaction) and which ids it committed. */
function spy(store: LedgerStore) {
  const batches: number[] = [];
  const committed = new Set<string>();
  const wrapped: LedgerStore = {
    dialect: store.dialect,
    location: store.location,
    insert: async (rows) => {
      const n = await store.insert(rows);
      batches.push(rows.length);
      for (const r of rows) committed.add(r.requestId);
      return n;
    },
    usage: (by, f) => store.usage(by, f),
    recent: (n, f) => store.recent(n, f),
    close: () => store.close(),
  };
  return { wrapped, batches, committed };
}

export function ledgerStoreSuite(fresh: () => Promise<StoreLocation>): void {
  it("migrates on open, idempotently: reopening (twice at once) keeps the rows", async () => {
    const loc = await fresh();
    const s1 = await loc.open();
    assert.equal(await s1.insert([sampleRow(1), sampleRow(2), sampleRow(3)]), 3);
    await s1.close();
    const [a, b] = await Promise.all([loc.open(), loc.open()]);
    assert.deepEqual((await a.recent(10, {})).sort(byId), [sampleRow(1), sampleRow(2), sampleRow(3)].sort(byId));
    assert.equal((await b.recent(10, {})).length, 3);
    await Promise.all([a.close(), b.close()]);
  });

  it("stores every row of a mixed concurrent load exactly as appended, group-committed", async () => {
    const store = await (await fresh()).open();
    const { wrapped, batches, committed } = spy(store);
    const ledger = new Ledger(wrapped, { batchMs: 5, maxBatch: 64 });
    const appended: LedgerRow[] = [];
    const early: string[] = [];
    // 40 "requests" at a time, each appending after a little work, as a gateway's would
    await Promise.all(
      Array.from({ length: 40 }, async (_, w) => {
        for (let j = 0; j < 15; j++) {
          await sleep((w * 7 + j * 3) % 4);
          const row = sampleRow(w * 100 + j, "load");
          appended.push(row);
          await ledger.append(row);
          // resolved means committed: the store must have returned from the insert holding it
          if (!committed.has(row.requestId)) early.push(row.requestId);
        }
      }),
    );
    assert.deepEqual(early, [], "appends resolved before their batch committed");
    const stored = await store.recent(10_000, {});
    assert.deepEqual(stored.sort(byId), appended.sort(byId));
    const st = ledger.stats;
    assert.equal(st.written, 600);
    assert.equal(st.pending, 0);
    assert.equal(st.failedWrites, 0);
    assert.equal(batches.reduce((a, b) => a + b, 0), 600);
    assert.equal(st.batches, batches.length);
    assert.ok(batches.length <= 600 / 4, `600 rows from 40 concurrent writers took ${batches.length} transactions: not group-committed`);
    assert.ok(Math.max(...batches) <= 64, "a batch exceeded maxBatch");
    await ledger.close();
  });

  it("a batch is one transaction: a row the schema refuses stores none of its batch", async () => {
    const store = await (await fresh()).open();
    const bad = { ...sampleRow(2), outputTokens: -1 }; // past append's validation, as a store bug would be
    await assert.rejects(store.insert([sampleRow(1), bad, sampleRow(3)]));
    assert.deepEqual(await store.recent(10, {}), []);
    assert.equal(await store.insert([sampleRow(1), sampleRow(3)]), 2);
    await store.close();
  });

  it("skips a row whose request id is stored, keeping the first", async () => {
    const store = await (await fresh()).open();
    assert.equal(await store.insert([sampleRow(1)]), 1);
    const again = { ...sampleRow(1), outputTokens: 9999 };
    assert.equal(await store.insert([again, sampleRow(2), { ...sampleRow(2), tag: "dup-in-batch" }]), 1);
    const rows = (await store.recent(10, {})).sort(byId);
    assert.deepEqual(rows, [sampleRow(1), sampleRow(2)]);
    await store.close();
  });

  it("usage sums per group equal the rows' own sums, for every --by and filter", async () => {
    const store = await (await fresh()).open();
    const rows = Array.from({ length: 300 }, (_, i) => sampleRow(i));
    await store.insert(rows);
    const day = 86_400_000;
    const filters = [{}, { since: BASE_TS + day, until: BASE_TS + 4 * day }, { keyId: "k-beta" }, { keyId: "k-none" }, { since: BASE_TS + 2 * day, keyId: "k-alpha" }];
    for (const by of GROUP_BYS) {
      for (const f of filters) {
        const got = roundTotals(sortTotals(await store.usage(by, f)));
        assert.deepEqual(got, roundTotals(referenceUsage(rows, by, f)), `--by ${by} ${JSON.stringify(f)}`);
      }
    }
    // the fixture's groups include a cost-less one (cost null for all), and partly priced ones
    const byModel = await store.usage("model", {});
    assert.ok(byModel.every((t) => t.unpricedRequests > 0 && t.costUsd !== null));
    const days = (await store.usage("day", {})).map((t) => t.group).sort();
    assert.equal(days[0], "2025-01-01");
    assert.equal(days.length, Math.floor((299 * 37) / (24 * 60)) + 1);
    await store.close();
  });

  it("cost_usd is null for a group none of whose requests had a price", async () => {
    const store = await (await fresh()).open();
    await store.insert([{ ...sampleRow(1), tag: "free", costUsd: 0 }, { ...sampleRow(2), tag: "unknown", costUsd: null }, { ...sampleRow(3), tag: "unknown", costUsd: null }]);
    const t = sortTotals(await store.usage("tag", {}));
    assert.deepEqual(t.map((x) => [x.group, x.costUsd, x.unpricedRequests]), [["free", 0, 0], ["unknown", null, 2]]);
    await store.close();
  });

  it("recent: the latest rows first (ties by request id), of one key when asked", async () => {
    const store = await (await fresh()).open();
    const rows = Array.from({ length: 50 }, (_, i) => ({ ...sampleRow(i), ts: BASE_TS + Math.floor(i / 3) }));
    await store.insert(rows);
    const newest = [...rows].sort((a, b) => b.ts - a.ts || (a.requestId < b.requestId ? 1 : -1));
    assert.deepEqual(await store.recent(7, {}), newest.slice(0, 7));
    assert.deepEqual(await store.recent(5, { keyId: "k-gamma" }), newest.filter((r) => r.keyId === "k-gamma").slice(0, 5));
    assert.deepEqual(await store.recent(100, { since: BASE_TS + 15 }), newest.filter((r) => r.ts >= BASE_TS + 15));
    await store.close();
  });

  it("usageReport shows key names (ids when unknown), sorted, and a key's own usage alone", async () => {
    const store = await (await fresh()).open();
    const rows = Array.from({ length: 40 }, (_, i) => sampleRow(i));
    await store.insert(rows);
    const names = new Map([["k-alpha", "zeta app"], ["k-beta", "ci bot"]]);
    const report = await usageReport(store, "key", {}, names);
    assert.deepEqual(report.map((r) => [r.group, r.keyId]), [["ci bot", "k-beta"], ["k-gamma", "k-gamma"], ["zeta app", "k-alpha"], [null, null]]);
    const json = report.map(usageJson);
    assert.equal(json[0]!.key, "ci bot");
    assert.equal(json[0]!.key_id, "k-beta");
    assert.equal(json[0]!.requests, rows.filter((r) => r.keyId === "k-beta").length);
    const own = await usageReport(store, "model", { keyId: "k-beta" }, (id) => (id === "k-beta" ? "ci bot" : undefined));
    assert.equal(own.reduce((a, r) => a + r.totals.requests, 0), 10);
    assert.deepEqual(roundTotals(own.map((r) => r.totals)), roundTotals(referenceUsage(rows, "model", { keyId: "k-beta" })));
    await store.close();
  });

  it("stores a batch larger than one statement's parameter limit whole", async () => {
    const store = await (await fresh()).open();
    const rows = Array.from({ length: 3000 }, (_, i) => sampleRow(i, "big"));
    assert.equal(await store.insert(rows), 3000);
    assert.equal((await store.usage("model", {})).reduce((a, t) => a + t.requests, 0), 3000);
    await store.close();
  });
}
