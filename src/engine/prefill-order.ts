/**
 * Which running prompts get a step's prompt budget first. Plain data in, an order out, so it is
 * testable without a model.
 */
import type { Sequence } from "./sequence.js";

/** Steps the oldest prompt may go without a chunk before it goes first whatever its length. */
export const MAX_PREFILL_SKIPS = 4;

/**
 * Running sequences with prompt tokens to compute (decoders excluded by the caller), in the
 * order they get the step's budget: higher priority first, then shortest remaining first
 * (shortest-remaining-time: a request that reuses a cached prefix gets its first token after
 * its own short suffix, not after a cold prompt admitted before it). So that long
 * prompts are never starved, the oldest one goes first once it has been skipped
 * `MAX_PREFILL_SKIPS` steps in a row; only the oldest, or several starved prompts would share
 * steps round-robin and all finish late. Ties: arrival order.
 */
export function prefillOrder(running: readonly Sequence[]): Sequence[] {
  const order = running
    .filter((s) => s.remaining > 0 && !s.restoring)
    .sort((a, b) => b.priority - a.priority || a.remaining - b.remaining || earlier(a, b));
  const oldest = order.reduce<Sequence | undefined>((o, s) => (o === undefined || earlier(s, o) < 0 ? s : o), undefined);
  if (oldest !== undefined && oldest.prefillSkips >= MAX_PREFILL_SKIPS) {
    order.splice(order.indexOf(oldest), 1);
    order.unshift(oldest);
  }
  return order;
}

function earlier(a: Sequence, b: Sequence): number {
  return a.times.arrival - b.times.arrival || a.id - b.id;
}
