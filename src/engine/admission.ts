/**
 * Cache-aware admission: which waiting request starts next. Plain data in, a choice out, so it
 * is testable without a model.
 */
import type { Reuse } from "./prefix-reuse.js";
import type { Sequence } from "./sequence.js";

/** Waiting requests looked at for a resident prefix before the oldest is simply taken. */
export const ADMISSION_WINDOW = 8;
/** Times the oldest waiting request may be passed over for one with a resident prefix. */
export const MAX_PASSED_OVER = 4;

/** A request to start, and how it reuses what is in KV. */
export interface Admission {
  seq: Sequence;
  reuse: Reuse;
}

/**
 * The next waiting request to admit (`waiting` in priority-then-arrival order): the oldest of
 * the highest priority, unless one of the next few shares a longer prefix with what is in KV
 * (cheaper to start, and its prefix may be evicted later) and the oldest has not been passed
 * over too often. Requests whose prefix a running sequence is computing right now ("defer")
 * are added to `deferred` and wait for it instead. Counts the passes over the ones skipped.
 */
export function pickAdmission(waiting: readonly Sequence[], deferred: Set<Sequence>, reuseOf: (seq: Sequence) => Reuse): Admission | undefined {
  let best: Admission | undefined;
  let seen = 0;
  for (const seq of waiting) {
    if (deferred.has(seq)) continue;
    if (best !== undefined && (seq.priority !== best.seq.priority || ++seen >= ADMISSION_WINDOW)) break;
    const reuse = reuseOf(seq);
    if (reuse.kind === "defer") {
      deferred.add(seq);
      continue;
    }
    if (best === undefined) {
      best = { seq, reuse };
      if (seq.passedOver >= MAX_PASSED_OVER) break;
    } else if (reuse.length > best.reuse.length) best = { seq, reuse };
  }
  if (best !== undefined) {
    for (const seq of waiting) {
      if (seq === best.seq) break;
      if (!deferred.has(seq)) seq.passedOver++;
    }
  }
  return best;
}
