/**
 * Picks llama.cpp's thread count per step from measurements, per batch size.
 *
 * The best count is not a constant: on one 2-vCPU machine here a single-token decode of a 135M
 * model took 15.7 ms with 1 thread and 23.0 ms with 2, while a 512-token prefill ran 1.9x
 * faster with 2. llama.cpp's threads spin while they wait, so any other busy thread (ours, or
 * another process) can make more threads slower. So for each batch-size bucket (powers of two
 * of the step's token count) the tuner tries each count a few times, starting with the best of
 * the nearest bucket already measured (else from `maxThreads` down, so a new bucket's first step
 * is not spent on a count a neighbour found far slower: a speculative 3-token step of a tiny
 * model took 15.6 ms with 2 threads against 0.5 ms with 1), dropping one early once it measured clearly slower (by PRUNE) twice than the best so far, so
 * exploring costs little; then it uses the fastest by median time per token, and measures again
 * every `reexploreEvery` steps of that bucket so it follows changes in load.
 */
export class ThreadTuner {
  private readonly buckets = new Map<number, Bucket>();

  constructor(
    readonly maxThreads: number,
    private readonly trials = 3,
    private readonly reexploreEvery = 2000,
  ) {}

  /** The thread count to use for a step of `tokens` tokens. */
  choose(tokens: number): number {
    if (this.maxThreads <= 1) return 1;
    const b = this.bucket(tokens);
    if (b.samples.some((x, t) => t > 0 && x.length === 0)) {
      // one try each first, the nearest measured bucket's best count before the others
      const hint = this.nearestBest(tokens);
      if (hint !== undefined && b.samples[hint]!.length === 0) return hint;
      for (let t = this.maxThreads; t >= 1; t--) if (b.samples[t]!.length === 0) return t;
    }
    const best = bestMedian(b.samples);
    for (let t = this.maxThreads; t >= 1; t--) {
      const s = b.samples[t]!;
      if (s.length >= this.trials) continue;
      if (s.length >= 2 && median(s) > PRUNE * best.ms) continue; // clearly slower twice: stop trying it
      return t;
    }
    return best.threads;
  }

  /** Records how long a step of `tokens` tokens took with `threads` threads. */
  record(tokens: number, threads: number, ms: number): void {
    if (this.maxThreads <= 1 || tokens <= 0) return;
    const b = this.bucket(tokens);
    const s = b.samples[threads];
    if (s === undefined) return;
    s.push(ms / tokens);
    if (s.length > this.trials) s.shift();
    b.steps++;
    b.best = bestMedian(b.samples).threads;
    if (b.samples.every((x, t) => t === 0 || x.length > 0)) {
      if (b.steps >= this.reexploreEvery) {
        // forget one measurement of each count so each is tried again
        for (const x of b.samples) x.shift();
        b.steps = 0;
      }
    }
  }

  /** Current choice per bucket (bucket = floor(log2(tokens))), for reporting. */
  snapshot(): { bucket: string; threads: number | undefined; msPerToken: (number | undefined)[] }[] {
    return [...this.buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([k, b]) => ({
        bucket: `${2 ** k}-${2 ** (k + 1) - 1} tokens`,
        threads: b.best,
        msPerToken: b.samples.slice(1).map((x) => (x.length ? median(x) : undefined)),
      }));
  }

  /** The best count of the measured bucket nearest to this one (smaller first on a tie). */
  private nearestBest(tokens: number): number | undefined {
    const k = Math.floor(Math.log2(Math.max(1, tokens)));
    let best: [number, number] | undefined;
    for (const [j, b] of this.buckets) {
      if (j === k || b.best === undefined) continue;
      const d = Math.abs(j - k) + (j > k ? 0.5 : 0);
      if (best === undefined || d < best[0]) best = [d, b.best];
    }
    return best?.[1];
  }

  private bucket(tokens: number): Bucket {
    const k = Math.floor(Math.log2(Math.max(1, tokens)));
    let b = this.buckets.get(k);
    if (b === undefined) {
      b = { samples: Array.from({ length: this.maxThreads + 1 }, () => []), best: undefined, steps: 0 };
      this.buckets.set(k, b);
    }
    return b;
  }
}

interface Bucket {
  /** samples[threads] = recent ms per token (index 0 unused). */
  samples: number[][];
  best: number | undefined;
  steps: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A count whose first two measurements are this much slower than the best is not tried again. */
const PRUNE = 1.25;

/** The count with the lowest median ms per token among those measured (the most threads if none). */
function bestMedian(samples: number[][]): { threads: number; ms: number } {
  let threads = samples.length - 1;
  let ms = Infinity;
  for (let t = 1; t < samples.length; t++) {
    if (samples[t]!.length === 0) continue;
    const m = median(samples[t]!);
    if (m < ms) {
      ms = m;
      threads = t;
    }
  }
  return { threads, ms };
}
