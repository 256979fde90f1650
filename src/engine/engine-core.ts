import type { Backend, Sample } from "../backend/backend.js";
import { InferdError } from "../util/errors.js";
import type { ResolvedParams } from "./params.js";
import { Scheduler, type SchedulerConfig, type SchedulerOutput } from "./scheduler.js";
import type { FinishReason, Sequence } from "./sequence.js";
import type { ThreadTuner } from "./thread-tuner.js";
import type { CostModel } from "./cost-model.js";
import type { KvOp } from "./kv-ops.js";
import type { StateStore } from "./state-store.js";
import type { SpecController } from "../spec/controller.js";
import { assertNever } from "../util/assert-never.js";
import type { CpuArbiter } from "./cpu-arbiter.js";

/** What the core tells a request's owner, synchronously, as its tokens arrive. */
export type CoreEvent =
  | { type: "token"; token: number; sample: Sample; finished: FinishReason | undefined }
  /** The request ended without a token (aborted, or finished by `finish`). */
  | { type: "ended"; reason: FinishReason }
  | { type: "error"; error: Error };

/** Per-step figures for the metrics layer. */
export interface StepStats {
  /** Sequences in the batch. */
  sequences: number;
  /** Tokens evaluated (decode + prefill). */
  tokens: number;
  /** Tokens sampled. */
  sampled: number;
  durationMs: number;
  /** llama.cpp threads used for this step. */
  threads: number;
  running: number;
  waiting: number;
}

type Sink = (ev: CoreEvent) => void;

/**
 * The engine loop: `plan = scheduler.schedule(); result = await backend.run(plan);
 * scheduler.update(plan, result)`, running while there is work. Token ids only: text, stop
 * strings and logprob formatting happen outside, in output processing.
 *
 * With a CpuArbiter (several engines in one process), each iteration (an embedding, drafting,
 * the step's KV operations and decode) runs holding it, so engines take turns on the cores;
 * the loop only runs while there is work, so the hold never spans waiting for requests.
 */
export class EngineCore {
  readonly scheduler: Scheduler;
  private readonly sinks = new Map<Sequence, Sink>();
  private looping = false;
  /** The loop while it runs: `close` waits for it, so native objects are never freed mid-step. */
  private loopDone: Promise<void> = Promise.resolve();
  /** Set by `close`: no new requests. */
  private closed = false;
  /** Embedding requests, run one at a time between generation steps. */
  private readonly embeds: { tokens: readonly number[]; resolve: (v: Float64Array) => void; reject: (e: unknown) => void }[] = [];
  private readonly stepListeners: ((s: StepStats) => void)[] = [];

  constructor(
    readonly backend: Backend,
    config: Omit<SchedulerConfig, "slots" | "cellsPerSequence" | "maxBatchTokens" | "tier"> &
      Partial<Pick<SchedulerConfig, "maxBatchTokens">>,
    /** Chooses threads per step from measurements; without it the backend's count is fixed. */
    private readonly tuner?: ThreadTuner,
    /** Measured prefill and restore costs (the prefix cache's tier decisions use them). */
    private readonly cost?: CostModel,
    /** The second KV tier, when prefix caching has one. */
    private readonly store?: StateStore,
    /** Speculative decoding: drafts tokens for the decoding sequences before each step. */
    readonly spec?: SpecController,
    /** Shared with other engines: held around each iteration's compute. Absent: the loop never waits for it. */
    private readonly cpu?: CpuArbiter,
  ) {
    this.scheduler = new Scheduler(
      {
        ...config,
        ...(store !== undefined ? { tier: store } : {}),
        slots: backend.kv.maxSequences,
        cellsPerSequence: backend.kv.cellsPerSequence,
        maxBatchTokens: Math.min(config.maxBatchTokens ?? backend.kv.maxBatchTokens, backend.kv.maxBatchTokens),
      },
      (t) => backend.isEog(t),
    );
  }

  /** Measured ms per prompt token of prefill (what a cached token saves), once a prefill step ran. */
  get prefillMsPerToken(): number | undefined {
    return this.cost?.prefillMsPerToken;
  }

  /** Calls `fn` after every step with its figures. */
  onStep(fn: (s: StepStats) => void): void {
    this.stepListeners.push(fn);
  }

  /** Queues a request; throws "overloaded", "context_overflow" or (after `close`) "offline" at once. */
  add(prompt: readonly number[], params: ResolvedParams, sink: Sink): Sequence {
    this.checkOpen();
    const seq = this.scheduler.submit(prompt, params.sampler, {
      maxTokens: params.maxTokens,
      priority: params.priority,
      stopAtEog: params.stopAtEog,
      speculative: this.spec !== undefined && params.speculative,
    });
    this.sinks.set(seq, sink);
    void this.loop();
    return seq;
  }

  /**
   * Embeds an input. It runs inside the loop, between generation steps, so two computations
   * never compete for the same cores.
   */
  embed(tokens: readonly number[]): Promise<Float64Array> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.embeds.push({ tokens, resolve, reject });
      void this.loop();
    });
  }

  /** Ends a request early; its KV is freed before the next step. Idempotent. */
  finish(seq: Sequence, reason: FinishReason): void {
    if (seq.status === "finished") return;
    this.scheduler.finish(seq, reason);
    const sink = this.sinks.get(seq);
    this.sinks.delete(seq);
    this.spec?.release(seq);
    sink?.({ type: "ended", reason });
    void this.loop();
  }

  /** Throws "overloaded" unless `count` more requests can be queued now (a request's n choices). */
  checkCapacity(count: number): void {
    this.checkOpen();
    this.scheduler.checkCapacity(count);
  }

  /**
   * Stops taking requests, ends every running and waiting one ("abort"), and resolves once the
   * loop has stopped: after it, no step is in flight and the backend may be disposed.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const seq of [...this.sinks.keys()]) this.finish(seq, "abort");
    for (const e of this.embeds.splice(0)) e.reject(new InferdError("offline", "the engine is shutting down"));
    while (this.looping) await this.loopDone;
  }

  /** Throws "offline" once `close` was called (the backend is being freed, or is gone). */
  checkOpen(): void {
    if (this.closed) throw new InferdError("offline", "the engine is shutting down");
  }

  private loop(): Promise<void> {
    if (this.looping) return this.loopDone;
    this.looping = true;
    this.loopDone = this.runLoop();
    return this.loopDone;
  }

  private async runLoop(): Promise<void> {
    const cpu = this.cpu;
    try {
      while (this.scheduler.hasWork() || this.embeds.length > 0) {
        // without an arbiter nothing is awaited here: the single-engine loop is unchanged
        if (cpu !== undefined) await cpu.acquire();
        try {
          const e = this.embeds.shift();
          if (e !== undefined) await this.backend.embed(e.tokens).then(e.resolve, e.reject);
          if (!this.scheduler.hasWork()) continue;
          // drafts first: the plan carries them for verification
          const t0 = performance.now();
          if (this.spec !== undefined) await this.spec.draft(this.scheduler.decoding());
          const draftMs = performance.now() - t0;
          await this.step(this.scheduler.schedule(), draftMs);
        } finally {
          cpu?.release();
        }
      }
    } catch (e) {
      this.failAll(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.looping = false;
    }
  }

  private async step(plan: SchedulerOutput, draftMs = 0): Promise<void> {
    for (const op of plan.kv) await this.applyKvOp(op);
    for (const o of plan.open) this.backend.openSequence(o.seq, o.sampler, o.generated);
    if (plan.items.length === 0) {
      if (plan.kv.length === 0 && plan.open.length === 0 && this.scheduler.runningCount === 0) {
        throw new InferdError("internal", "scheduler made no progress with requests waiting");
      }
      return;
    }
    const tokens = plan.items.reduce((n, it) => n + it.tokens.length, 0);
    if (this.tuner !== undefined) this.backend.setThreads(this.tuner.choose(tokens));
    const threads = this.backend.threads;
    const t0 = performance.now();
    const result = await this.backend.run(plan);
    const durationMs = performance.now() - t0;
    this.tuner?.record(tokens, threads, durationMs);
    // each request pays for its tokens at the batch size it really ran in
    for (let i = 0; i < plan.items.length; i++) plan.sequences[i]!.computeMs += (durationMs * plan.items[i]!.tokens.length) / tokens;
    this.cost?.recordStep(tokens, durationMs);
    this.spec?.costs.record(tokens, durationMs, threads);
    // a request whose sample failed fails alone, before the step's tokens are taken
    result.errors?.forEach((error, i) => error !== undefined && this.fail(plan.sequences[i]!, error));
    const events = this.scheduler.update(plan, result.samples);
    // decode-only steps tell speculation what it really yields per ms, drafting included
    if (this.spec !== undefined && plan.items.every((it) => it.sample && it.tokens.length === 1 + (it.draft ?? 0))) {
      this.spec.observe(plan.items.some((it) => (it.draft ?? 0) > 0), plan.items.length, events.length, durationMs + draftMs);
    }
    for (const ev of events) {
      const sink = this.sinks.get(ev.sequence);
      if (ev.finished !== undefined) {
        this.sinks.delete(ev.sequence);
        this.spec?.release(ev.sequence);
      }
      sink?.({ type: "token", token: ev.token, sample: result.samples[ev.index]!, finished: ev.finished });
    }
    const stats: StepStats = {
      sequences: plan.items.length,
      tokens,
      sampled: events.length,
      durationMs,
      threads,
      running: this.scheduler.runningCount,
      waiting: this.scheduler.waitingCount,
    };
    for (const fn of this.stepListeners) fn(stats);
  }

  private async applyKvOp(op: KvOp): Promise<void> {
    switch (op.type) {
      case "close":
        return this.backend.closeSequence(op.seq);
      case "retain":
        return this.backend.retainSequence(op.seq);
      case "truncate":
        return this.backend.truncateSequence(op.seq, op.from);
      case "copy":
        return this.backend.copySequence(op.from, op.to);
      case "save":
        await this.store?.save(this.backend, op.seq, op.tokens);
        return;
      case "restore": {
        const ok = (await this.store?.restore(this.backend, op.seq, op.stored)) ?? false;
        // a failed restore may have cleared the slot: recompute from `fallback`
        this.backend.truncateSequence(op.seq, ok ? op.keep : op.fallback);
        this.scheduler.restored(op.sequence, ok, op.fallback);
        return;
      }
      default:
        return assertNever(op);
    }
  }

  /** Ends one request with an error (its KV is freed before the next step). */
  private fail(seq: Sequence, error: Error): void {
    if (seq.status === "finished") return;
    this.scheduler.finish(seq, "abort");
    const sink = this.sinks.get(seq);
    this.sinks.delete(seq);
    this.spec?.release(seq);
    sink?.({ type: "error", error });
  }

  /** A backend failure ends every request with the error rather than leaving them hanging. */
  private failAll(error: Error): void {
    for (const [seq, sink] of [...this.sinks]) {
      this.scheduler.finish(seq, "abort");
      this.sinks.delete(seq);
      sink({ type: "error", error });
    }
  }
}
