/**
 * The contract of a drafter in speculative decoding: something cheap that guesses the next few
 * tokens of a sequence, so the target model can check several at once in one pass.
 *
 * Called by the engine loop once per step, before the scheduler plans it, for every running
 * sequence that is decoding and may speculate; `accepted` after the step that verified them.
 */

/** What a drafter needs to know about one sequence. */
export interface DraftRequest {
  /** Stable id of the request (the same for its whole life). */
  id: number;
  /** Every token so far (prompt and accepted output); the last one is not yet in the target's KV. */
  tokens: readonly number[];
  /** Most tokens to propose (>= 1). */
  k: number;
  /** Sampling temperature of the request: 0 asks for the drafter's single best guess. */
  temperature: number;
}

/** A proposal: the tokens, and for each the drafter's probability distribution q (absent: one-hot). */
export interface Draft {
  tokens: number[];
  /** q_i over the vocabulary for each proposed token, as token -> probability (sampling only). */
  q?: ReadonlyMap<number, number>[];
}

export interface Drafter {
  /** "ngram", "draft", or a custom drafter's name. */
  readonly name: string;
  /** Proposes up to `k` tokens for each request (fewer, or none, when it has no good guess). */
  propose(requests: readonly DraftRequest[]): Promise<Map<number, Draft>>;
  /** The target accepted `count` of the tokens proposed for `id` (its tokens now end with them). */
  accepted(id: number, count: number): void;
  /** Measured ms to draft `k` tokens for one more sequence (a draft model's passes); undefined: free. */
  costMs?(k: number): number | undefined;
  /** The request is gone: drop what the drafter keeps for it. */
  release(id: number): void;
  dispose(): Promise<void>;
}
