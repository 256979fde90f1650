/**
 * Verification of drafted tokens against the target model's output at each drafted position.
 *
 * Greedy: accept the longest prefix of the draft that equals the target's argmax, then the
 * target's own token at the first difference (or after the last draft token): the output is
 * exactly what greedy decoding without speculation would give.
 *
 * Sampling: speculative sampling (Leviathan et al. 2023; Chen et al. 2023). Draft token d with
 * drafter probability q(d) is accepted with probability min(1, p(d) / q(d)); on rejection the
 * token is drawn from the residual max(0, p - q), normalized. Every emitted token is then
 * distributed exactly as p. Prompt lookup is the one-hot case q(d) = 1: accept with
 * probability p(d), else draw from p with d removed.
 */
import type { Sequence } from "../engine/sequence.js";

/** The tokens a sequence keeps from a verified draft: greedy or speculative sampling, by its temperature. */
export function verifyDraft(seq: Sequence, draft: readonly number[], target: readonly TargetPosition[]): number[] {
  return seq.sampler.temperature === 0 ? verifyGreedy(draft, target) : verifySampled(draft, seq.draftQ, target, () => seq.random());
}

/** The target's verdict at one drafted position: its sampled token and, when sampling, its distribution p. */
export interface TargetPosition {
  token: number;
  /** p over the candidates the request's sampler keeps (token -> probability). */
  probs?: ReadonlyMap<number, number>;
}

/** Tokens to append: the accepted draft prefix plus one token from the target (always at least one). */
export function verifyGreedy(draft: readonly number[], target: readonly TargetPosition[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < draft.length; i++) {
    if (draft[i] !== target[i]!.token) break;
    out.push(draft[i]!);
  }
  out.push(target[out.length]!.token);
  return out;
}

/**
 * Speculative sampling. `q[i]` is the drafter's distribution at position i (undefined: one-hot
 * on the draft token); `rand` draws uniformly from [0, 1).
 */
export function verifySampled(
  draft: readonly number[],
  q: readonly (ReadonlyMap<number, number> | undefined)[],
  target: readonly TargetPosition[],
  rand: () => number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < draft.length; i++) {
    const d = draft[i]!;
    const p = target[i]!.probs!;
    const qi = q[i];
    const pd = p.get(d) ?? 0;
    const qd = qi === undefined ? 1 : (qi.get(d) ?? 0);
    if (qd > 0 && rand() < Math.min(1, pd / qd)) {
      out.push(d);
      continue;
    }
    out.push(sampleResidual(p, qi, d, rand));
    return out;
  }
  // every draft token accepted: the bonus token is the target's own sample after the last one
  out.push(target[draft.length]!.token);
  return out;
}

/** Draws from max(0, p - q) normalized (q one-hot on `d` when undefined). */
function sampleResidual(p: ReadonlyMap<number, number>, q: ReadonlyMap<number, number> | undefined, d: number, rand: () => number): number {
  let total = 0;
  const residual: [number, number][] = [];
  for (const [t, pt] of p) {
    const r = Math.max(0, pt - (q === undefined ? (t === d ? 1 : 0) : (q.get(t) ?? 0)));
    if (r > 0) {
      residual.push([t, r]);
      total += r;
    }
  }
  // p == q exactly (rejection then has probability 0, but floating point can get here): draw from p
  if (total <= 0) return drawFrom([...p], rand);
  let x = rand() * total;
  for (const [t, r] of residual) {
    x -= r;
    if (x < 0) return t;
  }
  return residual[residual.length - 1]![0];
}

function drawFrom(dist: [number, number][], rand: () => number): number {
  const total = dist.reduce((s, [, w]) => s + w, 0);
  let x = rand() * total;
  for (const [t, w] of dist) {
    x -= w;
    if (x < 0) return t;
  }
  return dist[dist.length - 1]![0];
}
