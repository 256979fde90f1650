/**
 * What the config's routes are built from besides the config: the named answer checks and the
 * trained routers' files (the same ones `inferd route eval` uses).
 */
import { InferdError } from "../util/errors.js";
import { ANSWER_CHECKS, isAnswerCheck, textCheck } from "./answer-checks.js";
import type { TextCheck } from "./answer-validators.js";
import { loadRouterModel } from "./learned.js";
import type { PromptScorer } from "./learned-policy.js";

export const CHECK_NAMES: readonly string[] = ANSWER_CHECKS;

export function namedCheck(name: string): TextCheck | undefined {
  return isAnswerCheck(name) ? textCheck(name) : undefined;
}

/** A router file for a learned route: one trained on prompts (`inferd route train --kind router`). */
export function loadScorer(path: string): PromptScorer {
  const scorer = loadRouterModel(path);
  if (scorer.model.features !== "prompt") {
    throw new InferdError("invalid_argument", `${path} was trained as a cascade's validator (--kind cascade); a learned route needs a router (--kind router)`, { param: "learned.file" });
  }
  return scorer;
}
