/**
 * The cost-quality curve of a routing policy and RouteLLM's metrics over it. A policy gives
 * each question a score (higher: more in need of the large model); sweeping its threshold
 * sends the top k of N questions to the large model, k = 0..N. At each point:
 * - accuracy: the large model's outcome on the k sent to it, the small model's on the rest;
 * - PGR (performance gap recovered) = (accuracy - acc_small) / (acc_large - acc_small);
 * - cost: a router pays the model it picks; a cascade pays the small model on every question
 *   and the large one on each escalation.
 * APGR is the area under PGR against the share of large-model calls (trapezoids over k/N);
 * CPT(x) the smallest share of large calls whose PGR reaches x; the cost saved at 95% is
 * 1 - cost / cost(always large) at the cheapest point whose accuracy is >= 95% of acc_large.
 */
export type Mode = "router" | "cascade";

export interface Outcome {
  smallRight: boolean;
  largeRight: boolean;
  /** USD of the question on each model (prompt and answer tokens at the model's prices). */
  smallUsd: number;
  largeUsd: number;
}

export interface CurvePoint {
  /** Questions sent to the large model, and their share. */
  large: number;
  share: number;
  accuracy: number;
  pgr: number;
  usd: number;
}

export interface Metrics {
  questions: number;
  accSmall: number;
  accLarge: number;
  apgr: number;
  cpt50: number | null;
  cpt80: number | null;
  /** Fraction of the always-large cost saved at the cheapest point reaching 95% of acc_large; null if none does. */
  costSavedAt95: number | null;
  /** That point. */
  at95: CurvePoint | null;
  curve: CurvePoint[];
}

/**
 * The curve of `scores` over `outcomes` (same order). Ties are broken by position, so equal
 * scores escalate in dataset order; `expected` curves (the random router) are given as such.
 */
export function curveOf(outcomes: readonly Outcome[], scores: readonly number[], mode: Mode): CurvePoint[] {
  const n = outcomes.length;
  const order = outcomes.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const accS = outcomes.filter((o) => o.smallRight).length / n;
  const accL = outcomes.filter((o) => o.largeRight).length / n;
  const gap = accL - accS;
  let right = outcomes.filter((o) => o.smallRight).length;
  let usd = outcomes.reduce((s, o) => s + o.smallUsd, 0);
  const points: CurvePoint[] = [];
  const push = (k: number) => points.push({ large: k, share: k / n, accuracy: right / n, pgr: gap === 0 ? 0 : (right / n - accS) / gap, usd });
  push(0);
  for (let k = 1; k <= n; k++) {
    const o = outcomes[order[k - 1]!]!;
    right += (o.largeRight ? 1 : 0) - (o.smallRight ? 1 : 0);
    usd += o.largeUsd - (mode === "router" ? o.smallUsd : 0);
    push(k);
  }
  return points;
}

/** The random router's expected curve: a share p of questions at random to the large model. */
export function randomCurve(outcomes: readonly Outcome[], mode: Mode): CurvePoint[] {
  const n = outcomes.length;
  const accS = outcomes.filter((o) => o.smallRight).length / n;
  const accL = outcomes.filter((o) => o.largeRight).length / n;
  const small = outcomes.reduce((s, o) => s + o.smallUsd, 0);
  const large = outcomes.reduce((s, o) => s + o.largeUsd, 0);
  return Array.from({ length: n + 1 }, (_, k) => {
    const p = k / n;
    return { large: k, share: p, accuracy: accS + p * (accL - accS), pgr: accL === accS ? 0 : p, usd: (mode === "router" ? (1 - p) * small : small) + p * large };
  });
}

export function metricsOf(outcomes: readonly Outcome[], curve: CurvePoint[]): Metrics {
  const n = outcomes.length;
  const accS = outcomes.filter((o) => o.smallRight).length / n;
  const accL = outcomes.filter((o) => o.largeRight).length / n;
  let apgr = 0;
  for (let i = 1; i < curve.length; i++) apgr += ((curve[i]!.pgr + curve[i - 1]!.pgr) / 2) * (curve[i]!.share - curve[i - 1]!.share);
  const cpt = (x: number) => curve.find((p) => p.pgr >= x - 1e-12)?.share ?? null;
  const allLarge = outcomes.reduce((s, o) => s + o.largeUsd, 0);
  const ok = curve.filter((p) => p.accuracy >= 0.95 * accL - 1e-12);
  const at95 = ok.length === 0 ? null : ok.reduce((a, b) => (b.usd < a.usd ? b : a));
  return {
    questions: n,
    accSmall: accS,
    accLarge: accL,
    apgr,
    cpt50: cpt(0.5),
    cpt80: cpt(0.8),
    costSavedAt95: at95 === null ? null : 1 - at95.usd / allLarge,
    at95,
    curve,
  };
}
