import type { SamplerConfig } from "../backend/backend.js";

/** Where a request is in the scheduler. */
export type SequenceStatus = "waiting" | "running" | "finished";

/** Why generation ended (OpenAI's names; "abort" when the caller cancelled). */
export type FinishReason = "stop" | "length" | "abort";

/** Timestamps (ms, performance.now()) of one request's life. */
export interface SequenceTimes {
  arrival: number;
  /** First time any of its tokens was scheduled. */
  scheduled?: number;
  firstToken?: number;
  finished?: number;
}

/**
 * One request's token state. The scheduler only counts: `computed` tokens have KV in the
 * backend, `tokens.length` is the target, and whenever a step brings `computed` up to the
 * target the step also samples the next token. Prefill and decode are the same rule.
 */
export class Sequence {
  status: SequenceStatus = "waiting";
  /** KV sequence id while running. */
  slot: number | undefined;
  computed = 0;
  finishReason: FinishReason | undefined;
  readonly times: SequenceTimes;
  /** Times this sequence was preempted (freed and recomputed later). */
  preemptions = 0;
  /** Its share of the steps' time (each step's duration split over the step's tokens), ms. */
  computeMs = 0;
  /** Prompt tokens found in the prefix cache at its first admission (not computed for it). */
  cachedTokens: number | undefined;
  /** Times a later request was admitted before it (cache-aware admission); bounds the wait. */
  passedOver = 0;
  /** Steps in a row its prompt got no chunk for want of budget (bounds shortest-first's wait). */
  prefillSkips = 0;
  /** Its KV is being loaded from a saved state: no tokens are scheduled until that is done. */
  restoring = false;
  /** May speculate (the request allows it and its sampler has no state speculation would break). */
  speculative = false;
  /** Drafted tokens for the next step (set by the drafter before planning; may be empty). */
  draft: number[] = [];
  /** The drafter's distribution q for each drafted token (undefined: one-hot). */
  draftQ: (ReadonlyMap<number, number> | undefined)[] = [];
  /** What the last verification did, for the drafter's bookkeeping. */
  lastDraft: { proposed: number; accepted: number } | undefined;
  private rngState: number | undefined;
  readonly tokens: number[];

  constructor(
    readonly id: number,
    prompt: readonly number[],
    readonly sampler: SamplerConfig,
    /** Most tokens to generate. */
    readonly maxTokens: number,
    readonly priority: number,
    /** Stop at end-of-generation tokens (false for ignore_eos). */
    readonly stopAtEog: boolean,
    now: number,
  ) {
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
    this.times = { arrival: now };
  }

  readonly promptLength: number;

  get outputLength(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Tokens still to evaluate before the next sample. */
  get remaining(): number {
    return this.tokens.length - this.computed;
  }

  /** Uniform [0, 1) draws for speculative sampling, seeded by the request's seed (mulberry32). */
  random(): number {
    let t = (this.rngState ??= this.sampler.seed ^ 0x5bd1e995) + 0x6d2b79f5;
    this.rngState = t >>> 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Generated tokens (the penalty history). */
  output(): number[] {
    return this.tokens.slice(this.promptLength);
  }
}
