/**
 * Runs a drafter for the running batch and adapts how far each sequence speculates.
 *
 * Called by the engine loop before each `schedule()`: it learns from the last verification of
 * each decoding sequence, then asks the drafter for up to k tokens where speculation pays. k
 * follows the sequence's recent acceptance rate and drops to 0 when guesses keep failing (a
 * rejected guess costs a verified position for nothing); a sequence at 0 still probes with one
 * token now and then, so it can come back when its text turns predictable.
 */
import type { Sequence } from "../engine/sequence.js";
import type { Drafter } from "./drafter.js";

/** Steps between single-token probes of a sequence that stopped speculating. */
const PROBE_EVERY = 8;
/** Weight of the newest verification in the acceptance rate's moving average. */
const EMA = 0.3;

interface SeqState {
  /** Moving average of accepted / proposed. */
  rate: number;
  /** Decode steps since the last proposal. */
  idle: number;
}

/** Counters for /metrics and the benchmark. */
export interface SpecStats {
  /** Draft tokens sent to the target for verification. */
  proposed: number;
  accepted: number;
  /** Verifications (steps in which a sequence had drafted tokens). */
  verifications: number;
}

export class SpecController {
  readonly stats: SpecStats = { proposed: 0, accepted: 0, verifications: 0 };
  private readonly state = new Map<number, SeqState>();

  constructor(
    readonly drafter: Drafter,
    /** Most tokens to draft per step. */
    readonly maxK: number,
  ) {}

  /** The k to use for a sequence with this acceptance rate. */
  static kFor(rate: number, maxK: number): number {
    if (rate >= 0.6) return maxK;
    if (rate >= 0.35) return Math.max(1, Math.ceil(maxK / 2));
    if (rate >= 0.15) return 1;
    return 0;
  }

  /** Sets `draft` on the decoding sequences that should speculate this step. */
  async draft(decoding: readonly Sequence[]): Promise<void> {
    const requests = [];
    for (const seq of decoding) {
      seq.draft = [];
      seq.draftQ = [];
      if (!seq.speculative) continue;
      const st = this.learn(seq);
      let k = SpecController.kFor(st.rate, this.maxK);
      if (k === 0 && st.idle >= PROBE_EVERY) k = 1;
      // never guess past the request's end
      k = Math.min(k, seq.maxTokens - seq.outputLength - 1);
      if (k <= 0) {
        st.idle++;
        continue;
      }
      st.idle = 0;
      requests.push({ id: seq.id, tokens: seq.tokens, k, temperature: seq.sampler.temperature });
    }
    if (requests.length === 0) return;
    const drafts = await this.drafter.propose(requests);
    for (const seq of decoding) {
      const d = drafts.get(seq.id);
      if (d === undefined) continue;
      seq.draft = d.tokens;
      seq.draftQ = d.q ?? [];
    }
  }

  /** The sequence is gone. */
  release(seq: Sequence): void {
    if (!seq.speculative) return;
    this.learn(seq);
    this.state.delete(seq.id);
    this.drafter.release(seq.id);
  }

  /** Folds the sequence's last verification into its state and the counters. */
  private learn(seq: Sequence): SeqState {
    let st = this.state.get(seq.id);
    if (st === undefined) this.state.set(seq.id, (st = { rate: 0.6, idle: 0 }));
    const last = seq.lastDraft;
    if (last !== undefined) {
      seq.lastDraft = undefined;
      this.stats.proposed += last.proposed;
      this.stats.accepted += last.accepted;
      this.stats.verifications++;
      st.rate += EMA * (last.accepted / last.proposed - st.rate);
      this.drafter.accepted(seq.id, last.accepted);
    }
    return st;
  }
}
