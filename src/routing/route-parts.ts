/**
 * What the config's routes are built from besides the config: the named answer checks and the
 * trained routers' files (the same ones `inferd route eval` uses).
 */
import { InferdError } from "../util/errors.js";
import type { TextCheck } from "./answer-validators.js";
import type { PromptScorer } from "./learned-policy.js";

export const CHECK_NAMES: readonly string[] = [];

export function namedCheck(name: string): TextCheck | undefined {
  void name;
  return undefined;
}

export function loadScorer(path: string): PromptScorer {
  throw new InferdError("invalid_argument", `cannot read the router ${path}`);
}
