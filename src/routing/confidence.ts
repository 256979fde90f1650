/**
 * A small model's confidence in its own answer, from its token logprobs. Following Gupta et
 * al. 2024 (cascades on token-level uncertainty), a low quantile of the tokens' probabilities
 * is the signal: the mean is biased by length (a long answer of sure tokens hides its one
 * guess), while the minimum or the 10th percentile sees it.
 */
import type { LogprobEntry } from "../providers/provider.js";

/**
 * The q-quantile (0: the minimum, 0.5: the median) of the tokens' probabilities, by the
 * nearest-rank rule on the sorted values; undefined when there are no tokens (an empty answer
 * has no confidence to speak of).
 */
export function quantileProbability(logprobs: readonly LogprobEntry[], q: number): number | undefined {
  if (logprobs.length === 0) return undefined;
  const sorted = logprobs.map((l) => l.logprob).sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.exp(sorted[rank]!);
}
