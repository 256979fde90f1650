import type { PlanItem, SamplerConfig, StepPlan } from "../backend/backend.js";
import { InferdError } from "../util/errors.js";
import { KvPool } from "./kv-pool.js";
import { Sequence, type FinishReason } from "./sequence.js";

export interface SchedulerConfig {
  /** Sequences decoding at once (the running batch cap). */
  maxRunning: number;
  /** Tokens per step across all sequences (decode tokens first, then prefill chunks). */
  maxBatchTokens: number;
  /** Waiting requests beyond which `submit` rejects with "overloaded". */
  maxWaiting: number;
  /** KV cells each sequence can hold: the context window. */
  cellsPerSequence: number;
  /** KV slots (sequence ids) the backend has. */
  slots: number;
  /** Total KV cells; defaults to slots x cellsPerSequence (llama.cpp's split KV). */
  totalCells?: number;
}

/** A step's plan plus what the backend must do to KV and samplers before running it. */
export interface SchedulerOutput extends StepPlan {
  /** Slots whose KV and sampler must be freed first (finished, aborted, preempted). */
  free: number[];
  /** Slots given to sequences this step: open their samplers (replaying what they generated before a preemption). */
  open: { seq: number; sampler: SamplerConfig; generated: readonly number[] }[];
  /** The sequence behind each plan item. */
  sequences: Sequence[];
}

/** What `update` observed for one sampled token. */
export interface TokenEvent {
  sequence: Sequence;
  /** Index of the plan item (and sample) this token came from. */
  index: number;
  token: number;
  /** Set when this token ended the sequence. */
  finished: FinishReason | undefined;
}

export interface SubmitOptions {
  maxTokens: number;
  priority?: number;
  stopAtEog?: boolean;
}

/**
 * Waiting and running queues. `schedule()` builds one batch: a decode token for every running
 * sequence first (so prefill never starves streams), then prefill chunks of running and newly
 * admitted sequences within the token budget. Admission is by priority (FIFO within one), KV
 * capacity and the running cap. When KV runs out the newest running sequence is preempted:
 * freed now and recomputed later.
 */
export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly kv: KvPool;
  private pendingFree: number[] = [];
  private nextId = 1;
  private readonly eog: (token: number) => boolean;

  constructor(
    readonly config: SchedulerConfig,
    isEog: (token: number) => boolean,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (config.maxBatchTokens < config.maxRunning) {
      throw new Error("maxBatchTokens must be >= maxRunning so every running sequence decodes each step");
    }
    if ((config.totalCells ?? Infinity) < config.cellsPerSequence) {
      throw new Error("totalCells must hold at least one full context, so a request that fits alone never fails");
    }
    this.kv = new KvPool(config.slots, config.cellsPerSequence, config.totalCells);
    this.eog = isEog;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get runningCount(): number {
    return this.running.length;
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0 || this.pendingFree.length > 0;
  }

  /** Queues a request. Throws "overloaded" when the waiting queue is full, "context_overflow" when it can never fit. */
  submit(prompt: readonly number[], sampler: SamplerConfig, opts: SubmitOptions): Sequence {
    const ctx = this.config.cellsPerSequence;
    if (prompt.length === 0) throw new InferdError("invalid_argument", "the prompt has no tokens", { param: "prompt" });
    if (prompt.length > ctx) {
      throw new InferdError(
        "context_overflow",
        `prompt is ${prompt.length} tokens but the context window is ${ctx} tokens`,
        { param: "prompt" },
      );
    }
    if (this.waiting.length >= this.config.maxWaiting) {
      const retryAfterSeconds = Math.max(1, Math.ceil(this.waiting.length / Math.max(1, this.config.maxRunning)));
      throw new InferdError("overloaded", `server overloaded: ${this.waiting.length} requests waiting`, {
        retryAfterSeconds,
      });
    }
    const seq = new Sequence(
      this.nextId++,
      prompt,
      sampler,
      opts.maxTokens,
      opts.priority ?? 0,
      opts.stopAtEog ?? true,
      this.now(),
    );
    this.enqueue(seq);
    return seq;
  }

  /** Ends a sequence early (abort, or a stop string found by output processing). Frees its KV next step. */
  finish(seq: Sequence, reason: FinishReason): void {
    if (seq.status === "finished") return;
    if (seq.status === "waiting") remove(this.waiting, seq);
    else this.release(seq);
    seq.status = "finished";
    seq.finishReason = reason;
    seq.times.finished = this.now();
  }

  schedule(): SchedulerOutput {
    const out: SchedulerOutput = { items: [], free: [], open: [], sequences: [] };
    let budget = this.config.maxBatchTokens;
    // 1. every decoding sequence gets its one token; when KV is short, preempt the newest
    //    running sequence not yet in this plan (which may be this one)
    for (let i = 0; i < this.running.length; i++) {
      const seq = this.running[i]!;
      if (seq.remaining !== 1) continue;
      while (!this.kv.canAppend(seq.slot!, 1) && this.running.length - 1 > i) {
        this.preempt(this.running[this.running.length - 1]!);
      }
      if (!this.kv.canAppend(seq.slot!, 1)) {
        this.preempt(seq);
        i--;
        continue;
      }
      budget -= this.add(out, seq, 1);
    }
    // 2. running sequences still prefilling, then 3. admissions, share what is left
    for (const seq of this.running) {
      if (budget <= 0) break;
      if (seq.remaining <= 1) continue;
      const n = Math.min(seq.remaining, budget, this.kv.freeCells);
      if (n > 0) budget -= this.add(out, seq, n);
    }
    while (budget > 0 && this.waiting.length > 0 && this.running.length < this.config.maxRunning) {
      const seq = this.waiting[0]!;
      const n = Math.min(seq.remaining, budget);
      // admit only if the whole sequence (as it stands) fits the KV now: no thrashing
      if (!this.kv.canAllocate(seq.tokens.length)) break;
      this.waiting.shift();
      seq.slot = this.kv.allocate(0);
      seq.status = "running";
      seq.times.scheduled ??= this.now();
      this.running.push(seq);
      out.open.push({ seq: seq.slot, sampler: seq.sampler, generated: seq.output() });
      budget -= this.add(out, seq, n);
    }
    out.free = this.pendingFree;
    this.pendingFree = [];
    return out;
  }

  /** Applies a step's samples: advances `computed`, appends tokens, finishes sequences at EOG or limits. */
  update(plan: SchedulerOutput, samples: readonly ({ token: number } | undefined)[]): TokenEvent[] {
    const events: TokenEvent[] = [];
    for (let i = 0; i < plan.items.length; i++) {
      const seq = plan.sequences[i]!;
      const item = plan.items[i]!;
      if (seq.status !== "running") continue; // finished or preempted while the step ran
      seq.computed += item.tokens.length;
      const sample = samples[i];
      if (!item.sample || sample === undefined) continue;
      seq.tokens.push(sample.token);
      seq.times.firstToken ??= this.now();
      let finished: FinishReason | undefined;
      if (seq.stopAtEog && this.eog(sample.token)) finished = "stop";
      else if (seq.outputLength >= seq.maxTokens) finished = "length";
      else if (seq.tokens.length >= this.config.cellsPerSequence) finished = "length";
      if (finished !== undefined) this.finish(seq, finished);
      events.push({ sequence: seq, index: i, token: sample.token, finished });
    }
    return events;
  }

  /** Places `n` tokens of `seq` (from its first uncomputed one) in the plan; a sequence appears once per plan. */
  private add(out: SchedulerOutput, seq: Sequence, n: number): number {
    const firstPos = seq.computed;
    const item: PlanItem = {
      seq: seq.slot!,
      firstPos,
      tokens: seq.tokens.slice(firstPos, firstPos + n),
      sample: firstPos + n === seq.tokens.length,
    };
    if (item.sample && penaltiesOn(seq.sampler)) item.history = seq.output();
    this.kv.append(seq.slot!, n);
    out.items.push(item);
    out.sequences.push(seq);
    return n;
  }

  /** Frees a running sequence's KV and puts it back in the waiting queue to be recomputed. */
  private preempt(seq: Sequence): void {
    this.release(seq);
    seq.computed = 0;
    seq.preemptions++;
    seq.status = "waiting";
    this.enqueue(seq);
  }

  private release(seq: Sequence): void {
    remove(this.running, seq);
    if (seq.slot !== undefined) {
      this.kv.free(seq.slot);
      this.pendingFree.push(seq.slot);
      seq.slot = undefined;
    }
  }

  /** Inserts by priority (higher first), then arrival (FIFO), so preempted sequences go back in front. */
  private enqueue(seq: Sequence): void {
    let i = this.waiting.length;
    while (i > 0 && before(seq, this.waiting[i - 1]!)) i--;
    this.waiting.splice(i, 0, seq);
  }
}

function before(a: Sequence, b: Sequence): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.times.arrival < b.times.arrival || (a.times.arrival === b.times.arrival && a.id < b.id);
}

function penaltiesOn(s: SamplerConfig): boolean {
  return s.repetitionPenalty !== 1 || s.presencePenalty !== 0 || s.frequencyPenalty !== 0;
}

function remove<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}
