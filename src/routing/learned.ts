/**
 * The learned router: a logistic regression over hashed features (features.ts), trained
 * offline on labelled outcomes (`inferd route train`) and stored as a JSON file the config's
 * `learned.file` points at. Scoring a prompt is one pass over its words plus a sparse dot
 * product: microseconds.
 *
 * File format (`format: "inferd-router/1"`): `features` ("prompt", or "math-answer" for a
 * cascade's validator), `target` (what the probability is of: "large-needed", the large model
 * right where the small one is wrong, for a router; "small-wrong" for a validator), `bias`, and
 * `weights` as [index, weight] pairs of the non-zero weights; `trained` says on what.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { InferdError } from "../util/errors.js";
import { featuresOf, type FeatureKind, type Features } from "./features.js";
import type { PromptScorer } from "./learned-policy.js";

export interface RouterModel {
  format: "inferd-router/1";
  features: FeatureKind;
  target: Target;
  bias: number;
  weights: [number, number][];
  trained: { dataset: string; examples: number; l2: number; epochs: number };
}

export type Target = "large-needed" | "small-wrong";

export interface TrainOptions {
  l2?: number;
  epochs?: number;
  learningRate?: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Trains by full-batch gradient descent with Adam (deterministic: no shuffling, zero start),
 * L2 on the weights (not the bias). Labels: 1 = the target holds.
 */
export function trainLogistic(examples: { x: Features; y: 0 | 1 }[], o: TrainOptions = {}): { bias: number; w: Map<number, number> } {
  const l2 = o.l2 ?? 1e-3;
  const epochs = o.epochs ?? 150;
  const lr = o.learningRate ?? 0.05;
  // dense arrays over the features that occur (sorted indexes -> slots): fast, deterministic
  const used = [...new Set(examples.flatMap((e) => [...e.x.keys()]))].sort((a, b) => a - b);
  const slot = new Map(used.map((k, i) => [k, i]));
  const rows = examples.map((e) => ({ idx: Int32Array.from([...e.x.keys()].map((k) => slot.get(k)!)), val: Float64Array.from(e.x.values()), y: e.y }));
  const d = used.length;
  const w = new Float64Array(d);
  const g = new Float64Array(d);
  const m = new Float64Array(d);
  const v = new Float64Array(d);
  let bias = 0;
  let mb = 0;
  let vb = 0;
  const n = rows.length;
  for (let t = 1; t <= epochs; t++) {
    g.fill(0);
    let gb = 0;
    for (const r of rows) {
      let z = bias;
      for (let i = 0; i < r.idx.length; i++) z += w[r.idx[i]!]! * r.val[i]!;
      const err = sigmoid(z) - r.y;
      gb += err;
      for (let i = 0; i < r.idx.length; i++) g[r.idx[i]!]! += err * r.val[i]!;
    }
    const c1 = 1 - 0.9 ** t;
    const c2 = 1 - 0.999 ** t;
    for (let k = 0; k < d; k++) {
      const grad = g[k]! / n + l2 * w[k]!;
      m[k] = 0.9 * m[k]! + 0.1 * grad;
      v[k] = 0.999 * v[k]! + 0.001 * grad * grad;
      w[k]! -= (lr * (m[k]! / c1)) / (Math.sqrt(v[k]! / c2) + 1e-8);
    }
    gb /= n;
    mb = 0.9 * mb + 0.1 * gb;
    vb = 0.999 * vb + 0.001 * gb * gb;
    bias -= (lr * (mb / c1)) / (Math.sqrt(vb / c2) + 1e-8);
  }
  return { bias, w: new Map(used.map((k, i) => [k, w[i]!])) };
}

export function routerModel(features: FeatureKind, target: Target, trained: { bias: number; w: Map<number, number> }, about: RouterModel["trained"]): RouterModel {
  const weights = [...trained.w].filter(([, x]) => Math.abs(x) > 1e-6).sort((a, b) => a[0] - b[0]).map(([k, x]): [number, number] => [k, Number(x.toPrecision(6))]);
  return { format: "inferd-router/1", features, target, bias: Number(trained.bias.toPrecision(8)), weights, trained: about };
}

/** Scores texts with a trained model: the probability of its target. */
export class LearnedScorer implements PromptScorer {
  private readonly w: Map<number, number>;

  constructor(readonly model: RouterModel) {
    this.w = new Map(model.weights);
  }

  /** The probability of the model's target; for a cascade's validator, `answer` is the small model's answer. */
  score(prompt: string, answer?: string): number {
    let z = this.model.bias;
    for (const [k, v] of featuresOf(this.model.features, prompt, answer)) z += (this.w.get(k) ?? 0) * v;
    return sigmoid(z);
  }
}

export function saveRouterModel(path: string, m: RouterModel): void {
  writeFileSync(path, JSON.stringify(m) + "\n");
}

export function loadRouterModel(path: string): LearnedScorer {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InferdError("invalid_argument", `cannot read the router ${path}: ${e instanceof Error ? e.message : String(e)}`, { param: "learned.file" });
  }
  const m = raw as Partial<RouterModel>;
  if (m.format !== "inferd-router/1" || !Array.isArray(m.weights) || typeof m.bias !== "number" || (m.features !== "prompt" && m.features !== "math-answer") || (m.target !== "large-needed" && m.target !== "small-wrong")) {
    throw new InferdError("invalid_argument", `${path} is not a router trained by inferd route train (format inferd-router/1)`, { param: "learned.file" });
  }
  return new LearnedScorer(m as RouterModel);
}
