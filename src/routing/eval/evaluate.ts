/**
 * `inferd route eval`: a policy's scores on a dataset (trained or tuned on another when it
 * needs to be), its curve and RouteLLM's metrics, priced from the price table.
 */
import { lookupPrice, priceTable } from "../../pricing/table.js";
import { InferdError } from "../../util/errors.js";
import { runCheck } from "../answer-checks.js";
import { featuresOf, type FeatureKind } from "../features.js";
import { LearnedScorer, routerModel, trainLogistic, type RouterModel } from "../learned.js";
import { curveOf, metricsOf, randomCurve, type Metrics, type Mode, type Outcome } from "./curve.js";
import type { Dataset, Question } from "./dataset.js";
import { gpt4Counter, mixtralCounter } from "./tokens.js";

export type EvalPolicy = "cascade" | "learned" | "rules" | "random" | "oracle";
export const EVAL_POLICIES: readonly EvalPolicy[] = ["cascade", "learned", "rules", "random", "oracle"];

/**
 * What each classifier learns and its settings, chosen on splits of the dev data (BENCHMARKS.md,
 * routing): a router ranks prompts by the chance that only the large model gets them right (a
 * question both get wrong gains nothing from escalating), with little regularization (thousands
 * of prompts, sparse words); a cascade's validator, the chance that the small answer is wrong,
 * regularized more (hundreds of answers).
 */
export const TRAINING = {
  prompt: { target: "large-needed", l2: 1e-5, epochs: 100, learningRate: 0.05 },
  "math-answer": { target: "small-wrong", l2: 1e-3, epochs: 150, learningRate: 0.05 },
} as const;

export interface EvalResult extends Metrics {
  policy: EvalPolicy;
  mode: Mode;
  dataset: string;
  train: string | null;
  small: string;
  large: string;
  prices: { small: { input: number; output: number }; large: { input: number; output: number } };
  tokenizers: { small: string; large: string };
  costAllLargeUsd: number;
  costAllSmallUsd: number;
}

function priceOf(model: string): { input: number; output: number } {
  const found = lookupPrice(priceTable(), model);
  if (found === undefined) throw new InferdError("invalid_argument", `no price for ${model} in the price table`, { param: "dataset" });
  return { input: found.row.rates.input, output: found.row.rates.output };
}

/** What a question costs on each model: its prompt and its answer (MMLU: one answer token). */
async function outcomesOf(d: Dataset): Promise<{ outcomes: Outcome[]; tokenizers: EvalResult["tokenizers"]; prices: EvalResult["prices"] }> {
  const prices = { small: priceOf(d.small), large: priceOf(d.large) };
  const large = gpt4Counter();
  const small = await mixtralCounter();
  try {
    const outcomes = d.questions.map((q) => {
      const sOut = q.smallAnswer !== undefined ? small.count(q.smallAnswer) : 1;
      const lOut = q.largeAnswer !== undefined ? large.count(q.largeAnswer) : 1;
      return {
        smallRight: q.smallRight,
        largeRight: q.largeRight,
        smallUsd: (small.count(q.prompt) * prices.small.input + sOut * prices.small.output) / 1e6,
        largeUsd: (large.count(q.prompt) * prices.large.input + lOut * prices.large.output) / 1e6,
      };
    });
    return { outcomes, tokenizers: { small: small.name, large: large.name }, prices };
  } finally {
    await small.close();
  }
}

/** The features a policy's classifier reads on a dataset: the prompt (routers) or the prompt with the small answer (a cascade's validator). */
function featureKind(policy: "learned" | "cascade", d: Dataset): FeatureKind {
  if (policy === "learned") return "prompt";
  if (d.kind !== "gsm8k") throw new InferdError("invalid_argument", `a cascade needs the small model's answers: ${d.file} has none (GSM8K-shaped data has them)`, { param: "policy" });
  return "math-answer";
}

export function train(d: Dataset, features: FeatureKind): RouterModel {
  const t = TRAINING[features];
  const label = (q: Question): boolean => (t.target === "large-needed" ? q.largeRight && !q.smallRight : !q.smallRight);
  const examples = d.questions.map((q) => ({ x: featuresOf(features, q.prompt, q.smallAnswer), y: (label(q) ? 1 : 0) as 0 | 1 }));
  return routerModel(features, t.target, trainLogistic(examples, t), { dataset: d.file, examples: examples.length, l2: t.l2, epochs: t.epochs });
}

/** A cascade's score: the gsm8k check failed (always escalated first), then the validator's P(small wrong). */
function cascadeScore(q: Question, scorer: LearnedScorer | undefined): number {
  const failed = runCheck("gsm8k", q.smallAnswer ?? "") !== true;
  return (failed ? 1 : 0) + (scorer === undefined ? 0 : scorer.score(q.prompt, q.smallAnswer));
}

export async function evaluatePolicy(o: { policy: EvalPolicy; dataset: Dataset; train?: Dataset | undefined; model?: RouterModel | undefined }): Promise<EvalResult> {
  const d = o.dataset;
  const { outcomes, tokenizers, prices } = await outcomesOf(d);
  const mode: Mode = o.policy === "cascade" ? "cascade" : "router";
  let curve;
  switch (o.policy) {
    case "random":
      curve = randomCurve(outcomes, mode);
      break;
    case "oracle":
      curve = curveOf(outcomes, d.questions.map((q) => (q.largeRight && !q.smallRight ? 2 : q.largeRight === q.smallRight ? 1 : 0)), mode);
      break;
    case "rules":
      // the simplest rule: longer prompts are harder
      curve = curveOf(outcomes, d.questions.map((q) => q.prompt.length), mode);
      break;
    case "learned":
    case "cascade": {
      const kind = featureKind(o.policy, d);
      const model = o.model ?? (o.train !== undefined ? train(o.train, kind) : undefined);
      if (model !== undefined && model.features !== kind) throw new InferdError("invalid_argument", `the router file was trained on ${model.features} features; the ${o.policy} policy on this dataset reads ${kind}`, { param: "model" });
      if (model === undefined && o.policy === "learned") throw new InferdError("invalid_argument", "the learned policy needs --train DEV (to train on) or --model FILE (from inferd route train)", { param: "train" });
      const scorer = model === undefined ? undefined : new LearnedScorer(model);
      curve = curveOf(
        outcomes,
        d.questions.map((q) => (o.policy === "cascade" ? cascadeScore(q, scorer) : scorer!.score(q.prompt))),
        mode,
      );
      break;
    }
  }
  const m = metricsOf(outcomes, curve);
  return {
    ...m,
    policy: o.policy,
    mode,
    dataset: d.file,
    train: o.train?.file ?? null,
    small: d.small,
    large: d.large,
    prices,
    tokenizers,
    costAllLargeUsd: outcomes.reduce((s, x) => s + x.largeUsd, 0),
    costAllSmallUsd: outcomes.reduce((s, x) => s + x.smallUsd, 0),
  };
}
