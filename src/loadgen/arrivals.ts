import { setTimeout as sleep } from "node:timers/promises";
import type { Rng } from "./rng.js";

/**
 * When each request is sent, in ms after the benchmark starts. A finite `ratePerSecond` gives a
 * Poisson process (exponential gaps of mean 1/rate, as vLLM does), which models independent
 * users better than a fixed period: bursts and lulls are what stress a batching scheduler.
 * `Infinity` sends everything at time 0. The first request always goes at 0, like vLLM.
 */
export function arrivalOffsets(rng: Rng, n: number, ratePerSecond: number): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    if (Number.isFinite(ratePerSecond)) t += exponentialGapMs(rng, ratePerSecond);
  }
  return out;
}

/** One exponential inter-arrival gap in ms (inverse-CDF sampling). */
export function exponentialGapMs(rng: Rng, ratePerSecond: number): number {
  // 1 - u is in (0, 1], so the log is finite
  return (-Math.log(1 - rng()) / ratePerSecond) * 1000;
}

/** Resolves at `startMs + offsetMs` on the performance.now() clock (at once if already past). */
export async function waitUntil(startMs: number, offsetMs: number): Promise<void> {
  const delay = startMs + offsetMs - performance.now();
  if (delay > 0) await sleep(delay);
}

/**
 * A counting semaphore capping requests in flight (--max-concurrency). Waiters are served in
 * arrival order so a request that arrived earlier is not overtaken by a later one.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  /** `limit` = Infinity means no cap. */
  constructor(readonly limit: number) {}

  /** Requests currently holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /** Waits for a free slot and takes it. */
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    // the releaser hands its slot straight to us, so `active` is unchanged and no one can slip in
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Gives a slot back, to the longest waiter if any. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
