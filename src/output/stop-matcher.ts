/** Result of feeding text to a StopMatcher. */
export type StopResult =
  | { kind: "text"; text: string }
  /** A stop string matched: `text` is what came before it; the stop string itself is never emitted. */
  | { kind: "stop"; text: string; stop: string };

/**
 * Finds stop strings in streamed text, even when one spans several tokens. Text that could be
 * the start of a stop string is held back until it is known not to be one.
 */
export class StopMatcher {
  private pending = "";
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  push(text: string): StopResult {
    if (this.stops.length === 0) return { kind: "text", text };
    this.pending += text;
    let first = -1;
    let which = "";
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) {
        first = at;
        which = s;
      }
    }
    if (first >= 0) {
      const before = this.pending.slice(0, first);
      this.pending = "";
      return { kind: "stop", text: before, stop: which };
    }
    const hold = this.heldSuffixLength();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { kind: "text", text: out };
  }

  /** Releases held-back text at the end of generation (no stop string can complete now). */
  flush(): string {
    const out = this.pending;
    this.pending = "";
    return out;
  }

  /** Longest suffix of the pending text that is a proper prefix of some stop string. */
  private heldSuffixLength(): number {
    const max = Math.min(this.pending.length, this.longest - 1);
    for (let n = max; n > 0; n--) {
      const tail = this.pending.slice(this.pending.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
