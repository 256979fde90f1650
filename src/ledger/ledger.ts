/**
 * The ledger: durable rows, one per request, group-committed off the hot path.
 *
 * `append(row)` queues the row and resolves once the transaction holding it has committed. Rows
 * from concurrent requests share transactions: a batch starts when its oldest row has waited
 * `batchMs` (or at once when `maxBatch` rows wait, or a flush is asked for), and one write runs
 * at a time; rows that arrive meanwhile make the next batch. A caller that awaits append before
 * its response's last byte so waits at most `batchMs` plus a commit (plus the commit in flight).
 *
 * When a write fails, its rows go back to the head of the queue (commits stay in append order)
 * and the writer tries again after a backoff (`backoffMs`, doubling, at most `maxBackoffMs`),
 * for as long as the ledger is open: a row is never dropped while it is queued. Each append
 * settles within a bound all the same: it rejects with a LedgerError "write_failed" once
 * 1 + `retries` writes holding its row have failed, or "timeout" at `ackTimeoutMs`, whichever
 * is first; in both cases the row stays queued and is written when the store comes back (the
 * stats count it then). Rows are given up only visibly: "full" refuses a row beyond `maxQueued`,
 * and close() rejects, naming how many rows it could not write.
 */
import type { Journal } from "./journal.js";
import { LedgerError } from "./ledger-error.js";
import { rowProblem, type LedgerRow } from "./row.js";
import type { LedgerStore } from "./store.js";

export interface LedgerOptions {
  /**
   * A journal (see journal.ts): each row is written there before `append` resolves, which
   * is then at once; the store takes rows in batches behind it, and rows a dead process left are
   * written first. Without one, `append` waits for the store's commit.
   */
  journal?: Journal;
  /**
   * Ms the oldest queued row waits for others to join its batch (default 0: a row is written at
   * once when no write is in flight, and rows arriving during a write make the next batch: a
   * response waits one commit, not a timer; the gateway benchmark measured a 5 ms window as
   * ~4 ms added to every request's median).
   */
  batchMs?: number;
  /** Rows in one transaction at most; this many waiting start a batch at once (default 256). */
  maxBatch?: number;
  /** Failed writes of a row's batch before its append rejects (default 3, so 4 attempts). */
  retries?: number;
  /** Ms before the first retry (default 10); doubles per consecutive failure. */
  backoffMs?: number;
  /** Ms between retries at most, also while the store stays down (default 1000). */
  maxBackoffMs?: number;
  /** Ms after which an append rejects with "timeout" whatever the writer is doing (default 5000). */
  ackTimeoutMs?: number;
  /** Rows held at most (queued and in flight); beyond it append rejects with "full" (default 100000). */
  maxQueued?: number;
  /** Told of every failed write (for logs); default: one line on stderr. */
  onWriteError?: (e: unknown, rows: number) => void;
}

/** What the ledger has done since it was made. */
export interface LedgerStats {
  /** Rows newly stored (committed). */
  written: number;
  /** Rows committed whose request id was already stored (a retried batch that had committed, a reused id): the first row is kept. */
  duplicates: number;
  /** Write attempts (transactions) that failed. */
  failedWrites: number;
  /** Write attempts that followed a failure. */
  retries: number;
  /** Rows queued or in flight, not yet durable. */
  pending: number;
  /** Rows given up: refused as "full", or left unwritten by close(). */
  dropped: number;
  /** Rows refused as invalid. */
  invalid: number;
  /** Transactions committed. */
  batches: number;
}

interface Entry {
  row: LedgerRow;
  seq: number;
  /** performance.now() at append: a batch starts when its oldest row has waited batchMs. */
  at: number;
  /** Failed writes that held this row. */
  failures: number;
  /** The append's promise, until it settles. */
  waiter?: { resolve: () => void; reject: (e: LedgerError) => void; timer: NodeJS.Timeout };
}

interface Flusher {
  target: number;
  failures: number;
  resolve: () => void;
  reject: (e: LedgerError) => void;
  timer: NodeJS.Timeout;
}

export class Ledger {
  private readonly o: Required<LedgerOptions>;
  private queue: Entry[] = [];
  private head = 0;
  private inFlight: Promise<void> | undefined;
  private inFlightRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private backoff: NodeJS.Timeout | undefined;
  private consecutiveFailures = 0;
  private seq = 0;
  /** Commits follow append order, so every row with seq <= this is durable. */
  private committedThrough = 0;
  private flushers: Flusher[] = [];
  private closing: Promise<void> | undefined;
  /** Set by close() once its flush is over: no write starts after it. */
  private stopped = false;
  private readonly s: Omit<LedgerStats, "pending"> = { written: 0, duplicates: 0, failedWrites: 0, retries: 0, dropped: 0, invalid: 0, batches: 0 };

  private readonly journal: Journal | undefined;

  constructor(
    readonly store: LedgerStore,
    options: LedgerOptions & { leftover?: LedgerRow[] } = {},
  ) {
    this.journal = options.journal;
    const { journal: _j, leftover, ...rest } = options;
    options = rest;
    this.o = {
      batchMs: 0,
      maxBatch: 256,
      retries: 3,
      backoffMs: 10,
      maxBackoffMs: 1000,
      ackTimeoutMs: 5000,
      maxQueued: 100_000,
      onWriteError: (e, rows) => process.stderr.write(`[ledger] writing ${rows} rows to ${store.location} failed (will retry): ${e instanceof Error ? e.message : String(e)}\n`),
      // an option given as undefined keeps its default
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as LedgerOptions),
    } as Required<LedgerOptions>;
    // rows a dead process journaled go first, without waiters
    for (const row of leftover ?? []) this.queue.push({ row, seq: ++this.seq, at: performance.now(), failures: 0 });
    if (this.journal !== undefined && this.seq > 0) {
      this.journal.adopt(this.seq);
      this.schedule();
    }
  }

  get stats(): LedgerStats {
    return { ...this.s, pending: this.pending() };
  }

  private pending(): number {
    return this.queue.length - this.head + this.inFlightRows;
  }

  /** Queues a row; resolves once it is committed. See the module comment for when it rejects. */
  append(row: LedgerRow): Promise<void> {
    if (this.closing) return Promise.reject(new LedgerError("closed", "the ledger is closed"));
    const problem = rowProblem(row);
    if (problem !== undefined) {
      this.s.invalid++;
      return Promise.reject(new LedgerError("invalid_row", `ledger row ${JSON.stringify(row.requestId)}: ${problem}`));
    }
    if (this.pending() >= this.o.maxQueued) {
      this.s.dropped++;
      return Promise.reject(new LedgerError("full", `the ledger holds ${this.o.maxQueued} unwritten rows (is ${this.store.location} down?); row ${row.requestId} not recorded`));
    }
    if (this.journal !== undefined) {
      const entry: Entry = { row: { ...row }, seq: ++this.seq, at: performance.now(), failures: 0 };
      // durable from here: the store takes it when it can
      this.journal.write(entry.row, entry.seq);
      this.queue.push(entry);
      this.schedule();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { row: { ...row }, seq: ++this.seq, at: performance.now(), failures: 0 };
      const timer = setTimeout(() => this.settle(entry, new LedgerError("timeout", `ledger row ${row.requestId} not committed within ${this.o.ackTimeoutMs} ms (still queued)`)), this.o.ackTimeoutMs);
      // the batch and backoff timers keep the process alive while rows wait; this one need not
      timer.unref();
      entry.waiter = { resolve, reject, timer };
      this.queue.push(entry);
      this.schedule();
    });
  }

  /**
   * Writes everything queued now, without waiting for batch timers (SIGTERM). Resolves once
   * every row appended before the call is committed; rejects ("write_failed") after 1 + retries
   * failed writes, or ("timeout") after `timeoutMs`: the rows stay queued either way.
   */
  flush(timeoutMs = 10_000): Promise<void> {
    const target = this.seq;
    if (this.committedThrough >= target) return Promise.resolve();
    if (this.stopped) return Promise.reject(new LedgerError("closed", "the ledger is closed"));
    return new Promise<void>((resolve, reject) => {
      const f: Flusher = { target, failures: 0, resolve, reject, timer: setTimeout(() => this.endFlush(f, new LedgerError("timeout", `ledger flush did not finish within ${timeoutMs} ms (${this.stats.pending} rows pending)`)), timeoutMs) };
      this.flushers.push(f);
      this.schedule();
    });
  }

  /**
   * Refuses new rows, flushes, and closes the store. Rejects ("closed") when rows could not be
   * written: their appends reject too, and the error says how many were given up.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const flushed = await this.flush(timeoutMs).then(
      () => undefined,
      (e: unknown) => e,
    );
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.backoff);
    this.timer = this.backoff = undefined;
    // a write in flight settles within the store's own timeout; its rows go back to the queue on failure
    while (this.inFlight) await this.inFlight;
    const left = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.s.dropped += left.length;
    const lost = new LedgerError("closed", `the ledger closed with ${left.length} rows it could not write to ${this.store.location}`, { cause: flushed });
    for (const e of left) this.settle(e, lost);
    await this.store.close();
    // rows left unwritten stay in the journal, for the next process
    this.journal?.close();
    if (left.length > 0) throw lost;
  }

  private schedule(): void {
    const waiting = this.queue.length - this.head;
    if (this.stopped || this.inFlight || this.backoff || waiting === 0) return;
    const wait = waiting >= this.o.maxBatch || this.flushers.length > 0 ? 0 : this.queue[this.head]!.at + this.o.batchMs - performance.now();
    // timers count whole ms: under 1 ms left is due now
    if (wait < 1) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.write();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, Math.ceil(wait));
    }
  }

  private write(): void {
    const batch = this.queue.slice(this.head, this.head + this.o.maxBatch);
    if (batch.length === 0) return;
    this.head += batch.length;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.inFlightRows = batch.length;
    this.inFlight = this.store.insert(batch.map((e) => e.row)).then(
      (added) => this.committed(batch, added),
      (err: unknown) => this.failed(batch, err),
    );
  }

  private committed(batch: Entry[], added: number): void {
    this.inFlight = undefined;
    this.inFlightRows = 0;
    this.consecutiveFailures = 0;
    this.s.batches++;
    this.s.written += added;
    this.s.duplicates += batch.length - added;
    this.committedThrough = batch[batch.length - 1]!.seq;
    this.journal?.committed(this.committedThrough);
    for (const e of batch) this.settle(e);
    for (const f of [...this.flushers]) if (f.target <= this.committedThrough) this.endFlush(f);
    this.schedule();
  }

  private failed(batch: Entry[], err: unknown): void {
    this.inFlight = undefined;
    this.inFlightRows = 0;
    this.s.failedWrites++;
    this.consecutiveFailures++;
    this.o.onWriteError(err, batch.length);
    const attempts = this.o.retries + 1;
    for (const e of batch) {
      if (++e.failures >= attempts) this.settle(e, new LedgerError("write_failed", `ledger row ${e.row.requestId}: ${attempts} writes failed (still queued): ${errorText(err)}`, { cause: err }));
    }
    for (const f of [...this.flushers]) {
      if (++f.failures >= attempts) this.endFlush(f, new LedgerError("write_failed", `ledger flush: ${attempts} writes failed (${this.stats.pending + batch.length} rows still queued): ${errorText(err)}`, { cause: err }));
    }
    // back at the head: the retry writes them first, so commits stay in append order
    this.queue = batch.concat(this.queue.slice(this.head));
    this.head = 0;
    if (this.stopped) return; // close() gives the rest up
    const delay = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (this.consecutiveFailures - 1));
    this.backoff = setTimeout(() => {
      this.backoff = undefined;
      this.s.retries++;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.write();
    }, delay);
  }

  private settle(e: Entry, err?: LedgerError): void {
    const w = e.waiter;
    if (!w) return;
    e.waiter = undefined;
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve();
  }

  private endFlush(f: Flusher, err?: LedgerError): void {
    const i = this.flushers.indexOf(f);
    if (i < 0) return;
    this.flushers.splice(i, 1);
    clearTimeout(f.timer);
    if (err) f.reject(err);
    else f.resolve();
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
