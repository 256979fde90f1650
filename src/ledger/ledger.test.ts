/**
 * The Ledger's batching, retries and bounds over an in-memory store whose failures and delays the
 * tests control (no database: the stores have their own tests).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { LedgerError } from "./ledger-error.js";
import type { LedgerRow } from "./row.js";
import type { LedgerStore } from "./store.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function row(i: number): LedgerRow {
  return {
    ts: 1_700_000_000_000 + i, requestId: `r${i}`, keyId: null, user: null, tag: null, modelRequested: "m", provider: "p", model: "m",
    inputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 5, reasoningTokens: 0,
    costUsd: 0.001, savedUsd: null, queueMs: 0, ttftMs: 1, totalMs: 2, cacheHit: false, estimated: false,
    finishReason: "stop", status: 200, errorCode: null, route: null, outcome: "ok",
  };
}

/** Stores rows in an array; `fail` makes the next inserts throw, `delayMs` holds each insert. */
class MemoryStore implements LedgerStore {
  readonly dialect = "sqlite" as const;
  readonly location = "memory";
  rows: LedgerRow[] = [];
  batches: number[] = [];
  fail = 0;
  failAlways = false;
  delayMs = 0;
  closed = false;
  async insert(rows: readonly LedgerRow[]): Promise<number> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.failAlways || this.fail > 0) {
      this.fail--;
      throw new Error("disk I/O error");
    }
    const have = new Set(this.rows.map((r) => r.requestId));
    const fresh = rows.filter((r) => !have.has(r.requestId));
    this.rows.push(...fresh);
    this.batches.push(rows.length);
    return fresh.length;
  }
  usage(): never {
    throw new Error("not used");
  }
  recent(): never {
    throw new Error("not used");
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const quiet: LedgerOptions = { onWriteError: () => undefined };
const reason = (p: Promise<unknown>) => p.then(() => "resolved", (e: unknown) => (e instanceof LedgerError ? `${e.reason}${e.queued ? " (queued)" : ""}` : `other: ${String(e)}`));

describe("Ledger batching", { timeout: 20_000 }, () => {
  it("group-commits concurrent appends, resolving each only once its batch is stored", async () => {
    const store = new MemoryStore();
    store.delayMs = 3;
    const ledger = new Ledger(store, { ...quiet, batchMs: 5 });
    const early: number[] = [];
    await Promise.all(Array.from({ length: 100 }, (_, i) => ledger.append(row(i)).then(() => {
      if (!store.rows.some((r) => r.requestId === `r${i}`)) early.push(i);
    })));
    assert.deepEqual(early, []);
    assert.equal(store.rows.length, 100);
    assert.equal(store.batches.length, 1, `batches: ${store.batches}`);
    assert.deepEqual({ ...ledger.stats }, { written: 100, duplicates: 0, failedWrites: 0, retries: 0, pending: 0, dropped: 0, invalid: 0, batches: 1 });
  });

  it("a lone append waits about batchMs, not more", async () => {
    const ledger = new Ledger(new MemoryStore(), { ...quiet, batchMs: 20 });
    const t = performance.now();
    await ledger.append(row(1));
    const took = performance.now() - t;
    assert.ok(took >= 19, `resolved after ${took} ms: before its batch interval`);
    assert.ok(took < 500, `resolved after ${took} ms`);
  });

  it("starts a batch at once when maxBatch rows wait, and keeps batches within it", async () => {
    const store = new MemoryStore();
    const ledger = new Ledger(store, { ...quiet, batchMs: 60_000, maxBatch: 50 });
    const t = performance.now();
    await Promise.all(Array.from({ length: 200 }, (_, i) => ledger.append(row(i))));
    assert.ok(performance.now() - t < 5000, "full batches must not wait for the batch timer");
    assert.deepEqual(store.batches, [50, 50, 50, 50]);
    assert.deepEqual(store.rows.map((r) => r.requestId), Array.from({ length: 200 }, (_, i) => `r${i}`));
  });

  it("retries a failed write with backoff and then resolves", async () => {
    const store = new MemoryStore();
    store.fail = 2;
    const errors: unknown[] = [];
    const ledger = new Ledger(store, { batchMs: 1, retries: 3, backoffMs: 5, onWriteError: (e) => errors.push(e) });
    await Promise.all([ledger.append(row(1)), ledger.append(row(2))]);
    assert.equal(store.rows.length, 2);
    assert.equal(errors.length, 2);
    const st = ledger.stats;
    assert.equal(st.failedWrites, 2);
    assert.equal(st.retries, 2);
    assert.equal(st.written, 2);
  });

  it("rejects appends after their retries but keeps the rows queued, writing them (in order) once the store is back", async () => {
    const store = new MemoryStore();
    store.failAlways = true;
    const ledger = new Ledger(store, { ...quiet, batchMs: 1, retries: 2, backoffMs: 2, maxBackoffMs: 10 });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => reason(ledger.append(row(i)))));
    assert.deepEqual(results, Array(5).fill("write_failed (queued)"));
    assert.equal(ledger.stats.pending, 5);
    assert.ok(ledger.stats.failedWrites >= 3);
    const late = ledger.append(row(5));
    store.failAlways = false;
    await late;
    await ledger.flush();
    assert.deepEqual(store.rows.map((r) => r.requestId), ["r0", "r1", "r2", "r3", "r4", "r5"]);
    assert.equal(ledger.stats.written, 6);
    assert.equal(ledger.stats.pending, 0);
  });

  it("an append rejects at ackTimeoutMs when the store is slow, and its row is still written", async () => {
    const store = new MemoryStore();
    store.delayMs = 150;
    const ledger = new Ledger(store, { ...quiet, batchMs: 1, ackTimeoutMs: 30 });
    const t = performance.now();
    assert.equal(await reason(ledger.append(row(1))), "timeout (queued)");
    assert.ok(performance.now() - t < 140, "the timeout must not wait for the store");
    await ledger.flush();
    assert.equal(store.rows.length, 1);
  });

  it("refuses rows beyond maxQueued, counted as dropped", async () => {
    const store = new MemoryStore();
    store.delayMs = 50;
    const ledger = new Ledger(store, { ...quiet, batchMs: 1, maxQueued: 3 });
    const ps = Array.from({ length: 4 }, (_, i) => reason(ledger.append(row(i))));
    assert.deepEqual(await Promise.all(ps), ["resolved", "resolved", "resolved", "full"]);
    assert.equal(ledger.stats.dropped, 1);
  });

  it("refuses an invalid row without queueing it", async () => {
    const ledger = new Ledger(new MemoryStore(), quiet);
    assert.equal(await reason(ledger.append({ ...row(1), inputTokens: 1.5 })), "invalid_row");
    assert.equal(await reason(ledger.append({ ...row(2), tag: "a\u0000b" })), "invalid_row");
    assert.equal(await reason(ledger.append({ ...row(3), outcome: "fine" as never })), "invalid_row");
    assert.equal(await reason(ledger.append({ ...row(4), costUsd: NaN })), "invalid_row");
    assert.deepEqual([ledger.stats.invalid, ledger.stats.pending], [4, 0]);
  });

  it("counts a duplicate request id and keeps the first row", async () => {
    const store = new MemoryStore();
    const ledger = new Ledger(store, { ...quiet, batchMs: 1 });
    await ledger.append(row(1));
    await ledger.append({ ...row(1), outputTokens: 99 });
    assert.equal(store.rows.length, 1);
    assert.equal(store.rows[0]!.outputTokens, 5);
    assert.equal(ledger.stats.duplicates, 1);
  });

  it("flush writes at once without waiting for the batch timer", async () => {
    const store = new MemoryStore();
    const ledger = new Ledger(store, { ...quiet, batchMs: 60_000 });
    const appends = [ledger.append(row(1)), ledger.append(row(2))];
    const t = performance.now();
    await ledger.flush();
    assert.ok(performance.now() - t < 1000);
    assert.equal(store.rows.length, 2);
    await Promise.all(appends);
  });

  it("flush rejects after the retries of a failing store, rows kept", async () => {
    const store = new MemoryStore();
    store.failAlways = true;
    const ledger = new Ledger(store, { ...quiet, batchMs: 60_000, retries: 1, backoffMs: 1 });
    const a = reason(ledger.append(row(1)));
    assert.equal(await reason(ledger.flush()), "write_failed (queued)");
    assert.equal(await a, "write_failed (queued)");
    assert.equal(ledger.stats.pending, 1);
    store.failAlways = false;
    await ledger.close();
    assert.equal(store.rows.length, 1);
  });

  it("close flushes and closes the store; appends after it are refused", async () => {
    const store = new MemoryStore();
    const ledger = new Ledger(store, { ...quiet, batchMs: 60_000 });
    const a = ledger.append(row(1));
    await ledger.close();
    await a;
    assert.equal(store.rows.length, 1);
    assert.equal(store.closed, true);
    assert.equal(await reason(ledger.append(row(2))), "closed");
  });

  it("close on a dead store gives up within its bound, rejecting with the count of unwritten rows", async () => {
    const store = new MemoryStore();
    store.failAlways = true;
    const ledger = new Ledger(store, { ...quiet, batchMs: 1, retries: 100, backoffMs: 5, maxBackoffMs: 5, ackTimeoutMs: 60_000 });
    const appends = [0, 1, 2].map((i) => reason(ledger.append(row(i))));
    const t = performance.now();
    await assert.rejects(ledger.close(100), (e: unknown) => e instanceof LedgerError && e.reason === "closed" && /3 rows/.test(e.message));
    assert.ok(performance.now() - t < 2000);
    assert.deepEqual(await Promise.all(appends), ["closed", "closed", "closed"]);
    assert.equal(ledger.stats.dropped, 3);
    assert.equal(store.closed, true);
  });
});

describe("Ledger with a journal", () => {
  it("append resolves at once; rows the process left unstored are replayed by the next, none twice", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { Journal } = await import("./journal.js");
    const base = join(mkdtempSync(join(tmpdir(), "inferd-journal-")), "j");
    // a store that never commits: the process "dies" with every row only in its journal
    const stuck = { dialect: "sqlite" as const, location: "stuck", insert: () => new Promise<number>(() => {}), usage: async () => [], recent: async () => [], close: async () => {} };
    const first = Journal.open(base);
    assert.equal(first.leftover.length, 0);
    const dead = new Ledger(stuck, { journal: first.journal });
    for (let i = 0; i < 5; i++) await dead.append({ ...row(i), requestId: `j-${i}` });
    // the next process (here the same pid: its own folder's rows are leftovers too)
    const rows: LedgerRow[] = [];
    const store = { dialect: "sqlite" as const, location: "mem", insert: async (r: readonly LedgerRow[]) => (rows.push(...r), r.length), usage: async () => [], recent: async () => [], close: async () => {} };
    const next = Journal.open(base);
    assert.deepEqual(next.leftover.map((r) => r.requestId), ["j-0", "j-1", "j-2", "j-3", "j-4"]);
    const ledger = new Ledger(store, { journal: next.journal, leftover: next.leftover });
    await ledger.append({ ...row(5), requestId: "j-5" });
    await ledger.close();
    assert.deepEqual(rows.map((r) => r.requestId), ["j-0", "j-1", "j-2", "j-3", "j-4", "j-5"]);
    // all stored: nothing is left to replay
    assert.equal(Journal.open(base).leftover.length, 0);
  });
});
