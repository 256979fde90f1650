/**
 * One CPU for several engines: a FIFO lock that engine loops hold around each iteration's
 * compute (a draft model's passes, the step's decode, an embedding), so two local models never
 * run llama.cpp threads at the same time.
 *
 * Why: llama.cpp's worker threads spin-wait between graph nodes, and two models each running
 * as many threads as there are cores collapse each other's throughput (more spinning threads
 * than free cores) instead of sharing it. Taking turns keeps every step at full speed.
 *
 * Fair: waiters are served in arrival order and `release` hands the lock straight to the next
 * one, so an engine that releases and asks again queues behind the others: two busy engines
 * alternate steps. Holders must not wait for anything but their own compute while holding it
 * (never for requests to arrive), or the other engines stall behind them.
 */
import { InferdError } from "../util/errors.js";

export class CpuArbiter {
  private held = false;
  private readonly queue: (() => void)[] = [];
  private _grants = 0;

  /**
   * Resolves once the caller holds the CPU; the caller then calls `release()` exactly once.
   * A free lock is taken at once (a resolved promise); a held one queues the caller.
   */
  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      this._grants++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  /** Ends the caller's hold: the longest waiter, if any, holds it next. */
  release(): void {
    if (!this.held) throw new InferdError("internal", "CpuArbiter.release without a hold");
    const next = this.queue.shift();
    if (next === undefined) {
      this.held = false;
      return;
    }
    this._grants++;
    next();
  }

  /** Runs `fn` while holding the CPU (released when its promise settles). */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Whether someone holds the CPU now. */
  get busy(): boolean {
    return this.held;
  }

  /** Callers queued for the CPU now (metrics: engines ready to compute but waiting their turn). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Holds granted since creation. */
  get grants(): number {
    return this._grants;
  }
}
