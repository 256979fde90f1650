/**
 * Draft-model drafting: a second, smaller model with the same vocabulary guesses the next k
 * tokens, through its own backend (its own KV sequences), batched over all the sequences that
 * speculate this step: one catch-up pass, then k - 1 single-token passes.
 *
 * Each draft sequence is kept in step with its target sequence lazily: before drafting, its KV
 * is cut back to the longest prefix it shares with the target's accepted tokens (rejected
 * guesses go) and the tokens it lacks are evaluated in the catch-up pass.
 */
import type { Backend, PlanItem, SamplerConfig } from "../backend/backend.js";
import { commonPrefix } from "../engine/prefix-index.js";
import type { ThreadTuner } from "../engine/thread-tuner.js";
import type { Draft, DraftRequest, Drafter } from "./drafter.js";

interface DraftSeq {
  slot: number;
  /** Tokens whose KV the draft slot holds, from position 0. */
  kv: number[];
  temperature: number;
}

export class DraftModelDrafter implements Drafter {
  readonly name = "draft";
  private readonly seqs = new Map<number, DraftSeq>();
  private readonly freeSlots: number[];
  /** Moving average of a single-token draft pass, ms (the passes after catch-up). */
  private passMs: number | undefined;

  constructor(
    readonly backend: Backend,
    /** Chooses the draft's threads per pass from measurements; without it they stay fixed. */
    private readonly tuner?: ThreadTuner,
  ) {
    this.freeSlots = Array.from({ length: backend.kv.maxSequences }, (_, i) => backend.kv.maxSequences - 1 - i);
  }

  async propose(requests: readonly DraftRequest[]): Promise<Map<number, Draft>> {
    const active: { r: DraftRequest; s: DraftSeq; pending: number[]; draft: Draft }[] = [];
    for (const r of requests) {
      const s = this.seqFor(r);
      if (s === undefined) continue; // more speculating sequences than draft slots: this one waits
      // keep what the target accepted, drop the rest; the last token is always evaluated for its logits
      const keep = Math.min(commonPrefix(s.kv, r.tokens), r.tokens.length - 1);
      if (keep < s.kv.length) {
        this.backend.truncateSequence(s.slot, keep);
        s.kv.length = keep;
      }
      const pending = r.tokens.slice(keep) as number[];
      if (pending.length + r.k > this.backend.kv.cellsPerSequence - keep) continue;
      active.push({ r, s, pending, draft: { tokens: [], q: [] } });
    }
    let step = active.filter((a) => a.r.k > 0);
    while (step.length > 0) {
      await this.evaluate(step);
      step = step.filter((a) => a.draft.tokens.length < a.r.k);
    }
    const out = new Map<number, Draft>();
    for (const a of active) {
      out.set(a.r.id, a.r.temperature > 0 ? a.draft : { tokens: a.draft.tokens });
    }
    return out;
  }

  /** One pass over the draft model: each sequence's pending tokens in, one drafted token out. */
  private async evaluate(step: { r: DraftRequest; s: DraftSeq; pending: number[]; draft: Draft }[]): Promise<void> {
    const budget = this.backend.kv.maxBatchTokens;
    // a long catch-up (a new sequence's prompt) goes in chunks within the batch size
    let used = 0;
    const items: PlanItem[] = [];
    const owners: typeof step = [];
    for (const a of step) {
      const room = budget - used;
      if (room <= 0) break;
      const n = Math.min(a.pending.length, room);
      const sample = n === a.pending.length;
      items.push({ seq: a.s.slot, firstPos: a.s.kv.length, tokens: a.pending.slice(0, n), sample, ...(sample && a.r.temperature > 0 ? { probs: true } : {}) });
      owners.push(a);
      used += n;
    }
    if (this.tuner !== undefined) this.backend.setThreads(this.tuner.choose(used));
    const threads = this.backend.threads;
    const t0 = performance.now();
    const result = await this.backend.run({ items });
    const ms = performance.now() - t0;
    this.tuner?.record(used, threads, ms);
    if (used === items.length) this.passMs = this.passMs === undefined ? ms : this.passMs + 0.2 * (ms - this.passMs);
    for (let i = 0; i < owners.length; i++) {
      const a = owners[i]!;
      const item = items[i]!;
      a.s.kv.push(...item.tokens);
      a.pending = a.pending.slice(item.tokens.length);
      const sample = result.samples[i];
      if (sample === undefined) continue;
      a.draft.tokens.push(sample.token);
      a.draft.q!.push(sample.probs ?? new Map([[sample.token, 1]]));
      a.pending = [sample.token];
    }
  }

  private seqFor(r: DraftRequest): DraftSeq | undefined {
    let s = this.seqs.get(r.id);
    if (s === undefined) {
      const slot = this.freeSlots.pop();
      if (slot === undefined) return undefined;
      s = { slot, kv: [], temperature: r.temperature };
      this.backend.openSequence(slot, draftSampler(r.temperature, r.id));
      this.seqs.set(r.id, s);
    }
    return s;
  }

  accepted(): void {}

  costMs(k: number): number | undefined {
    return this.passMs === undefined ? undefined : k * this.passMs;
  }

  release(id: number): void {
    const s = this.seqs.get(id);
    if (s === undefined) return;
    this.backend.closeSequence(s.slot);
    this.freeSlots.push(s.slot);
    this.seqs.delete(id);
  }

  async dispose(): Promise<void> {
    for (const id of [...this.seqs.keys()]) this.release(id);
    await this.backend.dispose();
  }
}

/** The draft samples from its own distribution at the request's temperature (q), or greedily. */
function draftSampler(temperature: number, seed: number): SamplerConfig {
  return {
    temperature,
    topK: 0,
    topP: 1,
    minP: 0,
    repetitionPenalty: 1,
    presencePenalty: 0,
    frequencyPenalty: 0,
    penaltyWindow: 0,
    logitBias: new Map(),
    seed,
    logprobs: undefined,
  };
}
