/**
 * Measured costs the prefix cache decides by: what a token of prefill costs on this machine,
 * and what restoring a token of saved KV costs. Exponential moving averages, so they follow
 * the machine (thread count, other load) rather than a guess.
 */
export class CostModel {
  /** ms per prompt token, from steps that were mostly prefill; undefined until measured. */
  prefillMsPerToken: number | undefined;
  /** ms per token of a state restore (verification included); undefined until one ran. */
  restoreMsPerToken: number | undefined;

  constructor(private readonly weight = 0.2) {}

  /** A step of `tokens` tokens took `ms`; only big (prefill-dominated) steps say what prefill costs. */
  recordStep(tokens: number, ms: number): void {
    if (tokens >= 32) this.prefillMsPerToken = this.mix(this.prefillMsPerToken, ms / tokens);
  }

  recordRestore(tokens: number, ms: number): void {
    if (tokens > 0) this.restoreMsPerToken = this.mix(this.restoreMsPerToken, ms / tokens);
  }

  /** Whether restoring `length` tokens beats computing the `length - resident` not in KV (true while unmeasured: measure it). */
  restoreBeatsRecompute(length: number, resident: number): boolean {
    if (this.restoreMsPerToken === undefined || this.prefillMsPerToken === undefined) return true;
    return this.restoreMsPerToken * length < this.prefillMsPerToken * (length - resident);
  }

  private mix(old: number | undefined, x: number): number {
    return old === undefined ? x : old + this.weight * (x - old);
  }
}
