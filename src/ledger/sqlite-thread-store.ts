/**
 * The SQLite ledger store on a thread of its own (see sqlite-worker.ts): the same file, schema
 * and answers as SqliteStore, without its synchronous commits on the caller's event loop. What
 * `inferd serve` writes its rows through.
 */
import { Worker } from "node:worker_threads";
import type { LedgerRow } from "./row.js";
import { defaultLedgerPath, type SqliteStoreOptions } from "./sqlite-store.js";
import type { GroupBy, LedgerStore, UsageFilter, UsageTotals } from "./store.js";

/** A call to the worker. */
export type Call =
  | { id: number; op: "insert"; rows: readonly LedgerRow[] }
  | { id: number; op: "usage"; by: GroupBy; filter: UsageFilter }
  | { id: number; op: "recent"; limit: number; filter: UsageFilter }
  | { id: number; op: "close" };

/** The worker's answer to call `id` (0: the open). */
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

// distributive, so each call keeps its own fields
type Body<C> = C extends unknown ? Omit<C, "id"> : never;

export class SqliteThreadStore implements LedgerStore {
  readonly dialect = "sqlite" as const;
  private readonly pending = new Map<number, Pending>();
  private next = 1;

  private constructor(
    private readonly worker: Worker,
    readonly location: string,
  ) {
    worker.on("message", (r: Reply) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new Error(r.error));
    });
    worker.on("error", (e) => this.failAll(e));
    worker.on("exit", (code) => this.failAll(new Error(`the ledger's thread exited (${code})`)));
  }

  static async open(path: string = defaultLedgerPath(), options: SqliteStoreOptions = {}): Promise<SqliteThreadStore> {
    const worker = new Worker(new URL("./sqlite-worker.js", import.meta.url), { workerData: { path, options } });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", (r: Reply) => (r.ok ? resolve() : reject(new Error(r.error))));
      worker.once("error", reject);
    });
    return new SqliteThreadStore(worker, path);
  }

  private call<T>(body: Body<Call>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...body, id });
    });
  }

  insert(rows: readonly LedgerRow[]): Promise<number> {
    return this.call({ op: "insert", rows });
  }

  usage(by: GroupBy, filter: UsageFilter): Promise<UsageTotals[]> {
    return this.call({ op: "usage", by, filter });
  }

  recent(limit: number, filter: UsageFilter): Promise<LedgerRow[]> {
    return this.call({ op: "recent", limit, filter });
  }

  async close(): Promise<void> {
    await this.call({ op: "close" });
    await this.worker.terminate();
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
