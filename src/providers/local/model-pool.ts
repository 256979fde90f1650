/**
 * Several local models in one process, each loaded on first use under one memory budget.
 *
 * - `acquire(name)` loads the model the first time (concurrent acquires of it share that one
 *   load) and returns a lease; the model stays loaded while any lease is out.
 * - A model without leases is idle: past `ttlMs` it is unloaded. When loading a model would
 *   exceed the budget, idle models are unloaded least recently used first until it fits; if it
 *   cannot fit even then (the others are busy), the acquire waits for leases to be released,
 *   as long as its AbortSignal allows. A model whose estimate alone exceeds the budget fails at
 *   once. Budgets count estimates (see memory-estimate.ts), and a model being unloaded counts
 *   until its memory is freed: a new load waits for that.
 * - A model is never unloaded under a lease, and the pool never holds two copies of one model
 *   (one slot per name: an acquire during an unload waits for it to finish, then loads again).
 * - Every engine of the pool shares one CpuArbiter, so two models never compute at once.
 *
 * Waiters are woken on every change and look again: there is no queue order between acquires
 * of different models.
 */
import { CpuArbiter } from "../../engine/cpu-arbiter.js";
import { Engine, type EngineOptions } from "../../engine/engine.js";
import { assertNever } from "../../util/assert-never.js";
import { InferdError, firstLine } from "../../util/errors.js";
import { abortable, Pulse } from "../../util/pulse.js";
import type { EngineSource } from "./engines.js";
import { estimateMemory, formatBytes, type MemoryEstimate } from "./memory-estimate.js";

/** A configured local model: the name requests use, and how to load it. */
export interface PooledModel {
  name: string;
  options: EngineOptions;
}

/** A model in use: valid until `release()` (idempotent: later calls do nothing). */
export interface Lease {
  readonly engine: Engine;
  release(): void;
}

export interface ModelPoolOptions {
  /** Most bytes of estimated memory that loaded models may take together. */
  memoryBudgetBytes: number;
  /** Idle time after which a model is unloaded (Infinity: never; 0: as soon as it is idle). */
  ttlMs: number;
  /** The arbiter the pool's engines share; default: a new one (`options.cpu` of a model is replaced). */
  cpu?: CpuArbiter;
}

/** "loading": its engine is being made; "ready": serving; "unloading": being disposed. */
export type SlotState = "loading" | "ready" | "unloading";

/** A model holding memory now (pool state for tests and metrics). */
export interface PoolEntry {
  name: string;
  state: SlotState;
  /** Its memory estimate. */
  bytes: number;
  /** Leases out (while loading: acquires waiting for this load). */
  leases: number;
}

/** Ollama's keep-alive: a model idle for 5 minutes is unloaded. */
export const DEFAULT_TTL_MS = 5 * 60_000;

/** setTimeout's largest delay (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Slot {
  readonly name: string;
  state: SlotState;
  readonly bytes: number;
  leases: number;
  lastUsed: number;
  engine: Engine | undefined;
  loading: Promise<Engine>;
  ttl: NodeJS.Timeout | undefined;
}

export class ModelPool implements EngineSource {
  private readonly models = new Map<string, EngineOptions>();
  private readonly slots = new Map<string, Slot>();
  private readonly estimates = new Map<string, Promise<MemoryEstimate>>();
  /** Notified whenever memory may have become available or a slot changed state. */
  private readonly changed = new Pulse();
  private readonly budget: number;
  private readonly ttlMs: number;
  readonly cpu: CpuArbiter;
  private closed = false;
  /** Unloads that failed, reported by `close()` (and as a process warning when they happen). */
  private readonly failures: Error[] = [];
  private _loads = 0;
  private _unloads = 0;

  constructor(models: PooledModel[], opts: ModelPoolOptions) {
    for (const m of models) {
      if (m.name.length === 0) throw new InferdError("invalid_argument", "a local model needs a name", { param: "models" });
      if (this.models.has(m.name)) throw new InferdError("invalid_argument", `local model "${m.name}" is configured twice`, { param: "models" });
      this.models.set(m.name, m.options);
    }
    if (!(opts.memoryBudgetBytes > 0)) {
      throw new InferdError("invalid_argument", `invalid memory budget: ${opts.memoryBudgetBytes} (must be > 0 bytes)`, { param: "memoryBudgetBytes" });
    }
    if (!(opts.ttlMs >= 0) || (opts.ttlMs > MAX_TIMER_MS && opts.ttlMs !== Infinity)) {
      throw new InferdError("invalid_argument", `invalid ttlMs: ${opts.ttlMs} (0 to ${MAX_TIMER_MS}, or Infinity)`, { param: "ttlMs" });
    }
    this.budget = opts.memoryBudgetBytes;
    this.ttlMs = opts.ttlMs;
    this.cpu = opts.cpu ?? new CpuArbiter();
  }

  /**
   * A lease on the model `name`, loading it first if needed. Throws "model_not_found" for a name
   * not configured, "invalid_model" when the model alone exceeds the budget, "aborted" when
   * `signal` aborts while waiting (for room or for the load), "offline" once the pool is closing,
   * and the load's own error when loading fails.
   */
  async acquire(name: string, signal?: AbortSignal): Promise<Lease> {
    const options = this.models.get(name);
    if (options === undefined) {
      throw new InferdError("model_not_found", `unknown local model "${name}" (configured: ${[...this.models.keys()].join(", ") || "none"})`, { param: "model" });
    }
    const aborted = () => new InferdError("aborted", `waiting for local model "${name}" was cancelled`);
    for (;;) {
      this.checkOpen();
      if (signal?.aborted) throw aborted();
      const slot = this.slots.get(name);
      if (slot !== undefined) {
        switch (slot.state) {
          case "ready":
            slot.leases++;
            return this.lease(slot);
          case "loading":
            return this.join(slot, signal, aborted);
          case "unloading":
            await this.changed.wait(signal, aborted); // then load it again
            continue;
          default:
            return assertNever(slot.state);
        }
      }
      const { bytes, weightsBytes, kvBytes, draftBytes } = await abortable(this.estimate(name, options), signal, aborted);
      if (bytes > this.budget) {
        const draft = draftBytes > 0 ? ` + draft model ${formatBytes(draftBytes)}` : "";
        throw new InferdError(
          "invalid_model",
          `local model "${name}" needs about ${formatBytes(bytes)} (weights ${formatBytes(weightsBytes)} + KV cache ${formatBytes(kvBytes)}${draft}) ` +
            `but the memory budget is ${formatBytes(this.budget)}: raise the budget or lower its contextSize / maxSequences`,
        );
      }
      this.checkOpen();
      if (this.slots.has(name)) continue; // another acquire began loading it meanwhile
      if (this.makeRoom(bytes)) return this.join(this.startLoad(name, options, bytes), signal, aborted);
      await this.changed.wait(signal, aborted);
    }
  }

  /** Models holding memory now (loading, ready or unloading), with their estimates and leases. */
  loaded(): PoolEntry[] {
    return [...this.slots.values()].map((s) => ({ name: s.name, state: s.state, bytes: s.bytes, leases: s.leases }));
  }

  /** The engine of `name` if it is loaded and ready now (never loads: gauges, context windows). */
  peek(name: string): Engine | undefined {
    const s = this.slots.get(name);
    return s?.state === "ready" ? s.engine : undefined;
  }

  /** The configured models' names. */
  names(): string[] {
    return [...this.models.keys()];
  }

  /** Loads completed and unloads begun since the pool was made (metrics). */
  get counts(): { loads: number; unloads: number } {
    return { loads: this._loads, unloads: this._unloads };
  }

  /**
   * Unloads every model (requests still running on one are aborted: Engine.dispose waits for
   * its step in flight), waits for loads in flight and unloads them too; acquires fail with
   * "offline" from now on. Throws if an engine failed to dispose.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots.values()) if (slot.state === "ready") this.unload(slot);
    this.changed.notify(); // acquires waiting for room see the pool closed
    while (this.slots.size > 0) await this.changed.wait();
    const failures = this.failures.splice(0);
    if (failures.length > 0) throw new InferdError("internal", `closing the model pool: ${failures.map((e) => e.message).join("; ")}`);
  }

  private checkOpen(): void {
    if (this.closed) throw new InferdError("offline", "the local model pool is shutting down");
  }

  /** The model's estimate, computed once per pool (a failed one is tried again next time). */
  private estimate(name: string, options: EngineOptions): Promise<MemoryEstimate> {
    let e = this.estimates.get(name);
    if (e === undefined) {
      e = estimateMemory(options).catch((err: unknown) => {
        this.estimates.delete(name);
        throw err;
      });
      this.estimates.set(name, e);
    }
    return e;
  }

  /**
   * True when `bytes` more fit now. Otherwise unloads idle models, least recently used first,
   * if that makes enough room once they are gone (the caller waits for it), and unloads
   * nothing if even all of them would not (the caller waits for leases to be released).
   */
  private makeRoom(bytes: number): boolean {
    let used = 0;
    for (const s of this.slots.values()) used += s.bytes;
    if (used + bytes <= this.budget) return true;
    const idle = [...this.slots.values()].filter((s) => s.state === "ready" && s.leases === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    const freeable = idle.reduce((n, s) => n + s.bytes, 0);
    if (used - freeable + bytes > this.budget) return false;
    for (const s of idle) {
      if (used + bytes <= this.budget) break;
      this.unload(s);
      used -= s.bytes;
    }
    return false;
  }

  private startLoad(name: string, options: EngineOptions, bytes: number): Slot {
    const slot: Slot = { name, state: "loading", bytes, leases: 0, lastUsed: performance.now(), engine: undefined, loading: undefined!, ttl: undefined };
    slot.loading = Engine.load({ ...options, cpu: this.cpu }).then(
      (engine) => {
        slot.engine = engine;
        slot.state = "ready";
        this._loads++;
        if (this.closed) this.unload(slot);
        else if (slot.leases === 0) this.idle(slot);
        return engine;
      },
      (e: unknown) => {
        this.slots.delete(name);
        this.changed.notify();
        throw e;
      },
    );
    this.slots.set(name, slot);
    return slot;
  }

  /** Waits for a slot's load holding a place among its leases, so it cannot be evicted when ready. */
  private async join(slot: Slot, signal: AbortSignal | undefined, aborted: () => Error): Promise<Lease> {
    slot.leases++;
    try {
      await abortable(slot.loading, signal, aborted);
      this.checkOpen();
    } catch (e) {
      this.releaseOne(slot);
      throw e;
    }
    return this.lease(slot);
  }

  /** A lease on a ready slot whose lease count already includes it. */
  private lease(slot: Slot): Lease {
    clearTimeout(slot.ttl);
    slot.ttl = undefined;
    let released = false;
    return {
      engine: slot.engine!,
      release: () => {
        if (released) return;
        released = true;
        this.releaseOne(slot);
      },
    };
  }

  private releaseOne(slot: Slot): void {
    slot.leases--;
    slot.lastUsed = performance.now();
    if (slot.leases === 0 && slot.state === "ready") this.idle(slot);
  }

  /** The slot just became idle: it is evictable now, and unloaded after the TTL. */
  private idle(slot: Slot): void {
    clearTimeout(slot.ttl);
    if (this.ttlMs !== Infinity) {
      slot.ttl = setTimeout(() => {
        if (slot.state === "ready" && slot.leases === 0) this.unload(slot);
      }, this.ttlMs);
      slot.ttl.unref();
    }
    this.changed.notify();
  }

  /** Disposes a ready slot's engine; the slot (and its bytes) leave the pool once that is done. */
  private unload(slot: Slot): void {
    slot.state = "unloading";
    clearTimeout(slot.ttl);
    slot.ttl = undefined;
    this._unloads++;
    void slot.engine!.dispose().then(
      () => this.forget(slot),
      (e: unknown) => {
        const error = new InferdError("internal", `unloading local model "${slot.name}" failed: ${firstLine(e)}`);
        this.failures.push(error);
        process.emitWarning(error.message);
        this.forget(slot);
      },
    );
  }

  private forget(slot: Slot): void {
    this.slots.delete(slot.name);
    this.changed.notify();
  }
}
