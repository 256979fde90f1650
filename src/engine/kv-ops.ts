/**
 * What the backend must do to KV between steps, in order, before the step's batch runs. Plain
 * data, produced by the scheduler, carried out by the engine loop.
 */
import type { Sequence } from "./sequence.js";

/** A saved KV state in the second tier (RAM or disk), as the scheduler sees it. */
export interface StoredPrefix {
  /** The tokens whose KV the state holds, from position 0. */
  readonly tokens: readonly number[];
  readonly file: string;
  lastUsed: number;
}

export type KvOp =
  /** The request left the slot: free its KV and sampler. */
  | { type: "close"; seq: number }
  /** The request left the slot but its KV stays as a cached prefix: free the sampler only. */
  | { type: "retain"; seq: number }
  /** Drop the slot's KV cells from position `from` on. */
  | { type: "truncate"; seq: number; from: number }
  /** Make `to` hold `from`'s KV (a prefix another sequence computed); a truncate follows. */
  | { type: "copy"; from: number; to: number }
  /** Save the slot's KV for `tokens` to the second tier before the slot is reused. */
  | { type: "save"; seq: number; tokens: readonly number[] }
  /**
   * Load a saved state into the slot of `sequence` and keep its first `keep` cells. If the state
   * turns out corrupt or stale, the loop calls `Scheduler.restoreFailed(sequence, fallback)`
   * after truncating the slot to `fallback`.
   */
  | { type: "restore"; seq: number; stored: StoredPrefix; keep: number; fallback: number; sequence: Sequence };

/**
 * The second KV tier as the scheduler needs it: find saved prefixes and decide, from measured
 * costs, whether to save or restore one.
 */
export interface PrefixTier {
  longest(tokens: readonly number[]): { entry: StoredPrefix; length: number } | undefined;
  /** Whether restoring `length` tokens beats recomputing the `length - resident` not in KV. */
  worthRestoring(length: number, resident: number): boolean;
  /** Whether a cached prefix of these tokens, about to be evicted, should be saved first. */
  worthSaving(tokens: readonly number[]): boolean;
}
