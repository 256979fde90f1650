/**
 * Runs a drafter for the running batch and adapts how far each sequence speculates.
 *
 * Called by the engine loop before each `schedule()`: it learns from the last verification of
 * each decoding sequence, then asks the drafter for up to k tokens where speculation pays. k
 * weighs the sequence's recent acceptance against measured step times and drops to 0 when
 * guesses keep failing (a rejected guess costs a verified position for nothing); a sequence at
 * 0 still probes now and then, so it can come back when its text turns predictable.
 */
import type { Sequence } from "../engine/sequence.js";
import type { Drafter } from "./drafter.js";

/**
 * Decode steps at k = 0 between probes. Rare on purpose: on CPUs a step of 2+ tokens can cost
 * 3x a single-token one (llama.cpp's batch-1 path is its fastest), so a probe is expensive.
 */
const PROBE_EVERY = 256;
/** A probe assumes guesses this good: if even that would not pay here, there is no probe. */
const PROBE_RATE = 0.9;
/** Decay of a sequence's acceptance evidence per verification (recent text matters more). */
const DECAY = 0.95;
/** Decay of the evidence over all sequences per verification. */
const GLOBAL_DECAY = 0.99;
/** Decay per decode step of the realized yield sums (of both kinds, whichever the step was). */
const REALIZED_DECAY = 0.99;
/** Weight of evidence (recent steps) each kind needs before realized yields are compared. */
const REALIZED_MIN = 3;
/** Speculate only when the expected gain beats this margin (step times are noisy). */
const MIN_GAIN = 1.05;
/**
 * Drafted tokens of a probe when guesses elsewhere have kept failing: enough to see whether
 * this request's text is different, cheap when it is not (a 3-token step costs ~2 decodes here).
 */
const SMALL_PROBE = 2;

/** Realized yield of one kind of decode step: decayed sums. */
interface Rate {
  ms: number;
  tokens: number;
  /** Decayed count of the steps summed. */
  w: number;
}

interface SeqState {
  /** Decayed counts of accepted guesses and of guesses judged (the geometric model's evidence). */
  hits: number;
  trials: number;
  /** Decode steps since the last proposal. */
  idle: number;
  /** No verification yet: the counts are only the prior from other requests. */
  prior: boolean;
  /** A small probe is out: its outcome replaces the (failing) prior rather than joining it. */
  smallProbe: boolean;
}

/**
 * Measured step times by tokens in the step, so k is chosen by what verification really costs
 * here. On CPUs a small batch costs nearly as much per token as single-token decoding, so long
 * drafts pay only when almost every guess is right; on hardware where it is cheap they pay
 * much earlier. Unmeasured sizes are interpolated between measured ones.
 */
export class StepCosts {
  /**
   * The last few step times by size and thread count. The estimate for a size is the best
   * count's median: the thread tuner explores slower counts now and then (2 threads on a tiny
   * model can be 30x slower), and those steps say nothing about what speculation will cost
   * once it settles; the median drops one slow step, from another process say.
   */
  private readonly samples = new Map<number, Map<number, number[]>>();
  private readonly ms = new Map<number, number>();

  record(tokens: number, ms: number, threads = 0): void {
    let byThreads = this.samples.get(tokens);
    if (byThreads === undefined) this.samples.set(tokens, (byThreads = new Map()));
    let xs = byThreads.get(threads);
    if (xs === undefined) byThreads.set(threads, (xs = []));
    xs.push(ms);
    if (xs.length > 9) xs.shift();
    let best = Infinity;
    for (const ys of byThreads.values()) {
      const sorted = [...ys].sort((a, b) => a - b);
      best = Math.min(best, sorted[sorted.length >> 1]!);
    }
    this.ms.set(tokens, best);
  }

  /** Whether a step larger than `n` tokens was measured (else the cost of one is only extrapolated). */
  measuredAbove(n: number): boolean {
    for (const k of this.ms.keys()) if (k > n) return true;
    return false;
  }

  /** Estimated ms of a step of `n` tokens; undefined until something at or below n was measured. */
  cost(n: number): number | undefined {
    const exact = this.ms.get(n);
    if (exact !== undefined) return exact;
    let lo: [number, number] | undefined;
    let hi: [number, number] | undefined;
    for (const [k, v] of this.ms) {
      if (k < n && (lo === undefined || k > lo[0])) lo = [k, v];
      if (k > n && (hi === undefined || k < hi[0])) hi = [k, v];
    }
    if (lo === undefined) return undefined;
    // past the largest measured size: per token as costly as there (pessimistic, so it gets tried only if it clearly pays)
    if (hi === undefined) return (lo[1] * n) / lo[0];
    return lo[1] + ((hi[1] - lo[1]) * (n - lo[0])) / (hi[0] - lo[0]);
  }
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
  /**
   * Acceptance evidence over all sequences (decayed like a sequence's, but slower): a new
   * sequence starts from it, so where guesses have kept failing a new request pays for one
   * probe only, and where they kept succeeding it speculates at once.
   */
  private readonly global = { hits: 0, trials: 0 };
  /**
   * What decode steps really yielded, with and without drafts, by the number of sequences in
   * the step: decayed sums of ms and of tokens emitted. The cost model above predicts from
   * step times alone; these catch what it misses (JS work per verified position, drafting, the
   * thread tuner's tries, a machine whose timings swing), and veto speculation at a batch size
   * where it has measurably yielded fewer tokens per ms than plain decoding.
   */
  private readonly realized = new Map<number, { spec: Rate; plain: Rate }>();

  constructor(
    readonly drafter: Drafter,
    /** Most tokens to draft per step. */
    readonly maxK: number,
    /** Step times by size, fed by the engine loop after every step. */
    readonly costs: StepCosts = new StepCosts(),
    /** false: always draft `maxK` tokens (to test or measure speculation where it does not pay). */
    readonly adaptive = true,
  ) {}

  /**
   * The k that maximizes expected tokens per unit of step time for a sequence whose guesses are
   * right with probability `a` each (so k drafts yield a(1 - a^k)/(1 - a) accepted tokens), in a
   * step that already holds `base` tokens each yielding one. 0 when speculation does not pay.
   */
  static kFor(a: number, base: number, maxK: number, costs: StepCosts, draftMs: (k: number) => number = () => 0): number {
    const t0 = costs.cost(base);
    if (t0 === undefined) return 0;
    let best = 0;
    let bestRate = base / t0;
    let accepted = 0;
    for (let k = 1; k <= maxK; k++) {
      accepted += a ** k;
      const verify = costs.cost(base + k);
      const t = verify === undefined ? undefined : verify + draftMs(k);
      if (t === undefined) break;
      const rate = (base + accepted) / t;
      if (rate > bestRate * (best === 0 ? MIN_GAIN : 1)) {
        best = k;
        bestRate = rate;
      }
    }
    return best;
  }

  /** After a decode-only step (called by the engine loop): what it yielded and took. */
  observe(drafted: boolean, sequences: number, tokens: number, ms: number): void {
    let r = this.realized.get(sequences);
    if (r === undefined) this.realized.set(sequences, (r = { spec: { ms: 0, tokens: 0, w: 0 }, plain: { ms: 0, tokens: 0, w: 0 } }));
    // both kinds fade with every step, so a veto lapses after a while and speculation is
    // tried again (its evidence then is larger, so the next veto lasts longer)
    for (const x of [r.spec, r.plain]) {
      x.ms *= REALIZED_DECAY;
      x.tokens *= REALIZED_DECAY;
      x.w *= REALIZED_DECAY;
    }
    const x = drafted ? r.spec : r.plain;
    x.ms += ms;
    x.tokens += tokens;
    x.w += 1;
  }

  /** Whether speculation has measurably yielded less than plain decoding at this batch size. */
  private losing(sequences: number): boolean {
    const r = this.realized.get(sequences);
    if (r === undefined || r.spec.w < REALIZED_MIN || r.plain.w < REALIZED_MIN) return false;
    return r.spec.tokens / r.spec.ms < r.plain.tokens / r.plain.ms;
  }

  /** Whether realized yields at this batch size lack recent plain steps to compare with. */
  private needsPlain(sequences: number): boolean {
    const r = this.realized.get(sequences);
    return r !== undefined && r.spec.w >= REALIZED_MIN && r.plain.w < REALIZED_MIN;
  }

  /** Sets `draft` on the decoding sequences that should speculate this step. */
  async draft(decoding: readonly Sequence[]): Promise<void> {
    const requests = [];
    const asked: Sequence[] = [];
    // every decoding sequence yields a token this step; drafts add tokens to the same step
    let base = decoding.length;
    // speculating on every step would leave nothing to compare it with: keep a few plain steps
    const plainStep = this.adaptive && this.needsPlain(decoding.length);
    for (const seq of decoding) {
      seq.draft = [];
      seq.draftQ = [];
      if (!seq.speculative) continue;
      const st = this.learn(seq);
      if (plainStep) continue;
      const draftMs = (n: number) => this.drafter.costMs?.(n) ?? 0;
      const veto = this.adaptive && this.losing(decoding.length);
      let k = !this.adaptive ? this.maxK : veto ? 0 : SpecController.kFor(st.hits / st.trials, base, this.maxK, this.costs, draftMs);
      if (k === 0 && st.idle >= PROBE_EVERY) {
        // nothing measured at these sizes yet: try once, so the decision rests on a measurement;
        // where guesses have been failing (the prior says 0), a small probe: its outcome
        // replaces the prior, so a request whose text copies well still gets going
        const measured = this.costs.measuredAbove(base + this.maxK - 1);
        st.smallProbe = measured && st.prior && this.global.trials >= 1;
        k = !measured ? this.maxK : st.smallProbe ? SMALL_PROBE : SpecController.kFor(PROBE_RATE, base, this.maxK, this.costs, draftMs);
      }
      // never guess past the request's end
      k = Math.min(k, seq.maxTokens - seq.outputLength - 1);
      if (k <= 0) {
        st.idle++;
        continue;
      }
      base += k;
      requests.push({ id: seq.id, tokens: seq.tokens, k, temperature: seq.sampler.temperature });
      asked.push(seq);
    }
    if (requests.length === 0) return;
    const drafts = await this.drafter.propose(requests);
    for (const seq of asked) {
      const st = this.state.get(seq.id)!;
      const d = drafts.get(seq.id);
      if (d === undefined || d.tokens.length === 0) {
        // no guess (prompt lookup found no match): not a probe, the next chance still is one
        st.idle++;
        continue;
      }
      st.idle = 0;
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
    if (st === undefined) {
      // prior worth two observations (so it yields to evidence fast): the global rate where
      // there is one, else 80%; and a probe at the first chance, since how well guesses do
      // depends on the request's text
      const a = this.global.trials >= 1 ? this.global.hits / this.global.trials : 0.8;
      this.state.set(seq.id, (st = { hits: 2 * a, trials: 2, idle: PROBE_EVERY, prior: true, smallProbe: false }));
    }
    const last = seq.lastDraft;
    if (last !== undefined) {
      seq.lastDraft = undefined;
      this.stats.proposed += last.proposed;
      this.stats.accepted += last.accepted;
      this.stats.verifications++;
      // geometric model: each accepted guess is a success; the first rejected one a failure
      const trials = last.accepted + (last.accepted < last.proposed ? 1 : 0);
      const keep = st.smallProbe ? 0 : DECAY;
      st.prior = false;
      st.smallProbe = false;
      st.hits = keep * st.hits + last.accepted;
      st.trials = keep * st.trials + trials;
      this.global.hits = GLOBAL_DECAY * this.global.hits + last.accepted;
      this.global.trials = GLOBAL_DECAY * this.global.trials + trials;
      this.drafter.accepted(seq.id, last.accepted);
    }
    return st;
  }
}
