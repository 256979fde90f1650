/**
 * Prompt lookup (n-gram) drafting: find the last few tokens earlier in the sequence (prompt or
 * output) and propose what followed them there. No second model; it pays off where outputs
 * copy their context: edits, RAG answers, code, agents re-reading their inputs.
 */
import type { Draft, DraftRequest, Drafter } from "./drafter.js";

export interface NgramOptions {
  /** Longest suffix to look for (longer matches predict better). */
  maxN: number;
  /** Shortest suffix worth trusting. */
  minN: number;
}

export class NgramDrafter implements Drafter {
  readonly name = "ngram";
  private readonly index = new Map<number, SuffixIndex>();

  constructor(private readonly opts: NgramOptions = { maxN: 4, minN: 2 }) {}

  async propose(requests: readonly DraftRequest[]): Promise<Map<number, Draft>> {
    const out = new Map<number, Draft>();
    for (const r of requests) {
      let ix = this.index.get(r.id);
      if (ix === undefined) this.index.set(r.id, (ix = new SuffixIndex(this.opts)));
      const tokens = ix.lookup(r.tokens, r.k);
      if (tokens.length > 0) out.set(r.id, { tokens });
    }
    return out;
  }

  accepted(): void {}

  release(id: number): void {
    this.index.delete(id);
  }

  async dispose(): Promise<void> {
    this.index.clear();
  }
}

/**
 * Where each n-gram of a sequence last occurred, kept up to date as the sequence grows, so a
 * lookup costs O(n) instead of a scan of the whole context every step.
 */
class SuffixIndex {
  /** "n:t1,t2,...": index just after the n-gram's latest occurrence (not counting the current suffix). */
  private readonly last = new Map<string, number>();
  /** The same for its first occurrence. */
  private readonly first = new Map<string, number>();
  /** Tokens indexed so far: n-grams ending before this index are in `last`. */
  private upTo = 0;

  constructor(private readonly opts: NgramOptions) {}

  lookup(tokens: readonly number[], k: number): number[] {
    const len = tokens.length;
    // index the n-grams that end before the current suffix (those ending at len would find themselves)
    for (; this.upTo < len; this.upTo++) {
      for (let n = this.opts.minN; n <= this.opts.maxN && n <= this.upTo; n++) {
        const kk = key(tokens, this.upTo - n, n);
        this.last.set(kk, this.upTo);
        if (!this.first.has(kk)) this.first.set(kk, this.upTo);
      }
    }
    for (let n = Math.min(this.opts.maxN, len - 1); n >= this.opts.minN; n--) {
      const kk = key(tokens, len - n, n);
      let end = this.last.get(kk);
      if (end === undefined || end >= len) continue;
      // the latest occurrence predicts best, but in a repeating run it sits just before the end
      // and leaves fewer than k tokens to propose: the first occurrence then sees further
      if (len - end < k) end = this.first.get(kk)!;
      return tokens.slice(end, Math.min(end + k, len)) as number[];
    }
    return [];
  }
}

function key(tokens: readonly number[], start: number, n: number): string {
  let s = `${n}:`;
  for (let i = start; i < start + n; i++) s += tokens[i] + ",";
  return s;
}
