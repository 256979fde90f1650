import type { PlanItem, Sample, SamplerConfig, StepPlan } from "../backend/backend.js";
import { InferdError } from "../util/errors.js";
import type { KvOp, PrefixTier } from "./kv-ops.js";
import { pickAdmission, type Admission } from "./admission.js";
import { prefillOrder } from "./prefill-order.js";
import { KvPool } from "./kv-pool.js";
import { MIN_COPY_TOKENS, planReuse, savedPart, type Reuse } from "./prefix-reuse.js";
import { Sequence, type FinishReason } from "./sequence.js";
import { verifyDraft } from "../spec/verify.js";

export interface SchedulerConfig {
  /** Sequences decoding at once (the running batch cap). */
  maxRunning: number;
  /** Tokens per step across all sequences (decode tokens first, then prefill chunks). */
  maxBatchTokens: number;
  /**
   * Prompt chunks stop being added once a step holds this many tokens (at most
   * `maxBatchTokens`, the default), but a prompt whose rest fits in `maxBatchTokens` is never
   * split. Where a step's cost grows with its tokens, a fuller step only delays the first
   * token of every prompt it completes.
   */
  stepTargetTokens?: number;
  /** Waiting requests beyond which `submit` rejects with "overloaded". */
  maxWaiting: number;
  /** KV cells each sequence can hold: the context window. */
  cellsPerSequence: number;
  /** KV slots (sequence ids) the backend has. */
  slots: number;
  /** Total KV cells; defaults to slots x cellsPerSequence (llama.cpp's split KV). */
  totalCells?: number;
  /**
   * Automatic prefix caching: a finished request's KV stays in its slot as a cached prefix, and
   * new requests start from the longest computed prefix they share with any slot. Default off.
   */
  prefixCache?: boolean;
  /** The second tier (saved states) behind the slots; only with `prefixCache`. */
  tier?: PrefixTier;
}

/** A step's plan plus what the backend must do to KV and samplers before running it. */
export interface SchedulerOutput extends StepPlan {
  /** KV work before the batch runs, in order: freeing, keeping, copying, saving, restoring. */
  kv: KvOp[];
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
  /** May use speculative decoding when the engine has a drafter. */
  speculative?: boolean;
}

/**
 * Waiting and running queues. `schedule()` builds one batch: a decode token for every running
 * sequence first (so prefill never starves streams), then prefill chunks of running and newly
 * admitted sequences within the token budget, shortest remaining prompt first (see
 * `prefillOrder`). Admission is by priority (FIFO within one), KV
 * capacity and the running cap. When KV runs out the newest running sequence is preempted:
 * freed now and recomputed later.
 */
export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly kv: KvPool;
  private pendingOps: KvOp[] = [];
  /** Prompt tokens looked up in the prefix cache, and how many of them were found (metrics). */
  readonly prefixStats = { queries: 0, hits: 0 };
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

  /** Share of KV cells that running requests hold (vLLM's kv_cache_usage_perc: 0 when idle, cached prefixes included). */
  get kvUsage(): number {
    return this.kv.activeCells / this.kv.totalCells;
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0 || this.pendingOps.length > 0;
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
    this.checkCapacity(1);
    const seq = new Sequence(
      this.nextId++,
      prompt,
      sampler,
      opts.maxTokens,
      opts.priority ?? 0,
      opts.stopAtEog ?? true,
      this.now(),
    );
    seq.speculative = opts.speculative ?? false;
    this.enqueue(seq);
    return seq;
  }

  /**
   * Throws "overloaded" unless `count` more requests can be taken: `maxWaiting` bounds the
   * requests that really wait for capacity, so a burst that the free running slots will admit
   * at the next step never counts against it.
   */
  checkCapacity(count: number): void {
    const free = Math.max(0, this.config.maxRunning - this.running.length);
    const wouldWait = this.waiting.length + count - free;
    if (wouldWait > this.config.maxWaiting) {
      const queued = Math.max(0, this.waiting.length - free);
      const retryAfterSeconds = Math.max(1, Math.ceil((queued + count) / Math.max(1, this.config.maxRunning)));
      throw new InferdError("overloaded", `server overloaded: ${queued} requests waiting for capacity (at most ${this.config.maxWaiting})`, {
        retryAfterSeconds,
      });
    }
  }

  /** Running sequences whose next step is a decode (the ones a drafter may draft for). */
  decoding(): Sequence[] {
    return this.running.filter((s) => s.remaining === 1);
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
    const out: SchedulerOutput = { items: [], kv: [], open: [], sequences: [] };
    let budget = this.config.maxBatchTokens;
    let decoders = this.running.reduce((n, s) => n + (s.remaining === 1 ? 1 : 0), 0);
    // 1. every decoding sequence gets its one token (plus drafted ones where budget and KV
    //    allow); when KV is short, preempt the newest running sequence not yet in this plan
    //    (which may be this one)
    for (let i = 0; i < this.running.length; i++) {
      const seq = this.running[i]!;
      if (seq.remaining !== 1) continue;
      decoders--;
      while (!this.kv.canAppend(seq.slot!, 1) && this.running.length - 1 > i) {
        this.preempt(this.running[this.running.length - 1]!);
      }
      if (!this.kv.canAppend(seq.slot!, 1)) {
        this.preempt(seq);
        i--;
        continue;
      }
      let draft = Math.min(seq.draft.length, budget - decoders - 1);
      while (draft > 0 && !this.kv.canAppend(seq.slot!, 1 + draft)) draft--;
      budget -= this.add(out, seq, 1, draft);
    }
    // 2. admissions, as many as what is left of the budget could start this step
    out.kv = this.pendingOps; // the slots freed since the last step, before any admission reuses them
    this.pendingOps = [];
    const deferred = new Set<Sequence>();
    let admitted = 0;
    while (budget - admitted > 0 && this.running.length < this.config.maxRunning) {
      const pick = this.pickWaiting(deferred);
      if (pick === undefined) break;
      const { seq, reuse } = pick;
      // admit only if the whole sequence (as it stands) fits the KV now: no thrashing
      if (reuse.kind !== "take" && !this.kv.canAllocate(seq.tokens.length)) break;
      remove(this.waiting, seq);
      this.start(out, seq, reuse);
      if (!seq.restoring) admitted += seq.remaining; // a restoring one is scheduled once its state is loaded
    }
    // 3. prompt chunks, shortest remaining prompt first, until the step reaches its target size:
    //    a prompt that fits the budget goes whole, any other gets what is left up to the target
    const max = this.config.maxBatchTokens;
    const target = Math.min(this.config.stepTargetTokens ?? max, max);
    const planned = new Set(out.sequences); // the decoders of step 1
    for (const seq of prefillOrder(this.running.filter((s) => !planned.has(s)))) {
      const used = max - budget;
      const room = used >= target ? 0 : seq.remaining <= budget ? seq.remaining : target - used;
      const n = Math.min(room, this.kv.freeCells);
      if (n > 0) {
        budget -= this.add(out, seq, n);
        seq.prefillSkips = 0;
      } else seq.prefillSkips++;
    }
    return out;
  }

  /** The next waiting request to admit, and how it reuses KV (see `pickAdmission`). */
  private pickWaiting(deferred: Set<Sequence>): Admission | undefined {
    return pickAdmission(this.waiting, deferred, (seq) =>
      this.config.prefixCache ? planReuse(seq, this.kv, this.running, this.config.tier) : { kind: "none", length: 0 },
    );
  }

  /** Gives `seq` a slot, starting from the reused prefix, and says what KV work that takes. */
  private start(out: SchedulerOutput, seq: Sequence, reuse: Reuse): void {
    const ops = out.kv;
    if (reuse.kind === "take" && reuse.length * 2 < reuse.entry.tokens.length) {
      // a short match would destroy most of a cached prefix: keep it whole and copy the shared
      // part into another slot (unless it is the one that slot would be taken from)
      const copyable = reuse.length >= MIN_COPY_TOKENS && this.kv.nextVictim() !== reuse.entry;
      reuse.entry.lastUsed = this.now();
      reuse = copyable ? { kind: "copy", fromSlot: reuse.entry.slot, length: reuse.length } : { kind: "none", length: 0 };
    }
    if (reuse.kind === "take") {
      // the entry's tail past the match is dropped: what requests share is the part kept
      this.kv.take(reuse.entry, reuse.length);
      seq.slot = reuse.entry.slot;
      ops.push({ type: "truncate", seq: seq.slot, from: reuse.length });
    } else {
      const { slot, evicted } = this.kv.allocate(0);
      for (const e of evicted) {
        const keep = savedPart(e.tokens, this.kv, this.running, this.config.tier);
        if (keep !== undefined) {
          if (keep.length < e.tokens.length) ops.push({ type: "truncate", seq: e.slot, from: keep.length });
          ops.push({ type: "save", seq: e.slot, tokens: keep });
        }
        ops.push({ type: "truncate", seq: e.slot, from: 0 });
      }
      seq.slot = slot;
      if (reuse.kind === "copy") {
        ops.push({ type: "copy", from: reuse.fromSlot, to: slot }, { type: "truncate", seq: slot, from: reuse.length });
        this.kv.append(slot, reuse.length);
      } else if (reuse.kind === "restore") {
        reuse.stored.lastUsed = this.now();
        ops.push({ type: "restore", seq: slot, stored: reuse.stored, keep: reuse.length, fallback: 0, sequence: seq });
        this.kv.append(slot, reuse.length);
        seq.restoring = true;
      }
    }
    seq.computed = reuse.kind === "defer" ? 0 : reuse.length;
    if (seq.cachedTokens === undefined) {
      seq.cachedTokens = Math.min(seq.computed, seq.promptLength);
      this.prefixStats.queries += seq.promptLength;
      this.prefixStats.hits += seq.cachedTokens;
    }
    seq.status = "running";
    seq.times.scheduled ??= this.now();
    this.running.push(seq);
    out.open.push({ seq: seq.slot!, sampler: seq.sampler, generated: seq.output() });
  }

  /** Called by the loop when a restore op ran: on failure the sequence continues from `fallback`. */
  restored(seq: Sequence, ok: boolean, fallback: number): void {
    seq.restoring = false;
    if (ok || seq.slot === undefined) return;
    this.kv.append(seq.slot, fallback - seq.computed);
    seq.computed = fallback;
    const cached = Math.min(fallback, seq.promptLength);
    if (seq.cachedTokens !== undefined && seq.cachedTokens > cached) {
      this.prefixStats.hits -= seq.cachedTokens - cached;
      seq.cachedTokens = cached;
    }
  }

  /** Applies a step's samples: advances `computed`, appends tokens, finishes sequences at EOG or limits. */
  update(plan: SchedulerOutput, samples: readonly (Pick<Sample, "token" | "positions"> | undefined)[]): TokenEvent[] {
    const events: TokenEvent[] = [];
    for (let i = 0; i < plan.items.length; i++) {
      const seq = plan.sequences[i]!;
      const item = plan.items[i]!;
      if (seq.status !== "running") continue; // finished or preempted while the step ran
      const sample = samples[i];
      const drafted = item.draft ?? 0;
      let tokens = sample === undefined ? [] : [sample.token];
      if (drafted > 0 && sample?.positions !== undefined) {
        tokens = verifyDraft(seq, item.tokens.slice(-drafted), sample.positions);
        const rejected = drafted - (tokens.length - 1);
        seq.lastDraft = { proposed: drafted, accepted: drafted - rejected };
        seq.computed += item.tokens.length - rejected;
        if (rejected > 0) {
          // the rejected guesses' KV cells go before the next step
          this.kv.append(seq.slot!, -rejected);
          this.pendingOps.push({ type: "truncate", seq: seq.slot!, from: seq.computed });
        }
      } else seq.computed += item.tokens.length;
      if (!item.sample) continue;
      for (const token of tokens) {
        const finished = this.append(seq, token);
        events.push({ sequence: seq, index: i, token, finished });
        if (finished !== undefined) break;
      }
    }
    return events;
  }

  /** Appends a generated token; finishes the sequence when it ends generation. */
  private append(seq: Sequence, token: number): FinishReason | undefined {
    seq.tokens.push(token);
    seq.times.firstToken ??= this.now();
    let finished: FinishReason | undefined;
    if (seq.stopAtEog && this.eog(token)) finished = "stop";
    else if (seq.outputLength >= seq.maxTokens) finished = "length";
    else if (seq.tokens.length >= this.config.cellsPerSequence) finished = "length";
    if (finished !== undefined) {
      // tokens past the end of generation were computed but are not the sequence's
      seq.computed = Math.min(seq.computed, seq.tokens.length - 1);
      this.finish(seq, finished);
    }
    return finished;
  }

  /** Places `n` tokens of `seq` (from its first uncomputed one) in the plan; a sequence appears once per plan. */
  private add(out: SchedulerOutput, seq: Sequence, n: number, draft = 0): number {
    const firstPos = seq.computed;
    const item: PlanItem = {
      seq: seq.slot!,
      firstPos,
      tokens: seq.tokens.slice(firstPos, firstPos + n),
      sample: firstPos + n === seq.tokens.length,
    };
    if (draft > 0) {
      item.tokens = [...item.tokens, ...seq.draft.slice(0, draft)];
      item.draft = draft;
      if (seq.sampler.temperature > 0) item.probs = true;
    }
    if (item.sample && penaltiesOn(seq.sampler)) item.history = seq.output();
    this.kv.append(seq.slot!, n + draft);
    out.items.push(item);
    out.sequences.push(seq);
    return n + draft;
  }

  /** Frees a running sequence's KV and puts it back in the waiting queue to be recomputed. */
  private preempt(seq: Sequence): void {
    this.release(seq);
    seq.computed = 0;
    seq.preemptions++;
    seq.status = "waiting";
    this.enqueue(seq);
  }

  /** Takes `seq` out of the running batch; its KV stays as a cached prefix when caching is on. */
  private release(seq: Sequence): void {
    remove(this.running, seq);
    if (seq.slot === undefined) return;
    if (this.config.prefixCache && seq.computed > 0 && !seq.restoring) {
      this.kv.retain(seq.slot, seq.tokens.slice(0, seq.computed), this.now());
      this.pendingOps.push({ type: "retain", seq: seq.slot });
    } else {
      this.kv.free(seq.slot);
      this.pendingOps.push({ type: "close", seq: seq.slot });
    }
    seq.slot = undefined;
    seq.restoring = false;
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
