import { randomInt } from "node:crypto";
import type { GrammarSpec, SamplerConfig } from "../backend/backend.js";
import { InferdError } from "../util/errors.js";

/** Per-request generation settings (OpenAI's meanings, camelCase). All optional. */
export interface GenerateParams {
  /** Most tokens to generate; default: until the context window is full. */
  maxTokens?: number;
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set whose probability is >= topP. 1 = off. */
  topP?: number;
  /** Drop tokens less likely than minP x the most likely one. 0 = off. */
  minP?: number;
  /** Multiplicative penalty on recently generated tokens (llama.cpp's repeat penalty). 1 = off. */
  repetitionPenalty?: number;
  /** Subtracted once from the logit of any token already generated (-2..2). */
  presencePenalty?: number;
  /** Subtracted per occurrence from the logit of generated tokens (-2..2). */
  frequencyPenalty?: number;
  /** Token id -> bias added to its logit (-100..100; -100 effectively bans it). */
  logitBias?: Record<number, number> | ReadonlyMap<number, number>;
  /** Same seed, same prompt, same settings -> same output. Random when omitted. */
  seed?: number;
  /** Strings that end generation; never part of the output. */
  stop?: readonly string[];
  /** Report each token's logprob plus this many top alternatives (0..20). */
  logprobs?: number;
  /** Keep generating past end-of-generation tokens. */
  ignoreEos?: boolean;
  /** Scheduling priority: higher first, FIFO within one. */
  priority?: number;
  /**
   * Use speculative decoding when the engine has a drafter (default true). Requests with
   * penalties, logprobs or a grammar never speculate: their samplers carry per-token state.
   */
  speculative?: boolean;
  /** Constrain the output to a grammar (JSON, a JSON schema, GBNF). Generation then always stops at end-of-generation. */
  grammar?: GrammarSpec;
}

/** Validated settings: what the scheduler and the output processor need. */
export interface ResolvedParams {
  sampler: SamplerConfig;
  maxTokens: number;
  stop: string[];
  stopAtEog: boolean;
  priority: number;
  speculative: boolean;
}

const PENALTY_WINDOW = 256;
/** Temperatures below this are greedy (vLLM's _SAMPLING_EPS). */
export const TEMPERATURE_EPSILON = 1e-5;

/** Checks ranges and fills defaults. Errors are one line naming the parameter. */
export function resolveParams(p: GenerateParams): ResolvedParams {
  const maxTokens = p.maxTokens ?? Number.MAX_SAFE_INTEGER;
  check(Number.isInteger(maxTokens) && maxTokens >= 1, "maxTokens", "must be an integer >= 1", p.maxTokens);
  const asked = p.temperature ?? 1;
  check(Number.isFinite(asked) && asked >= 0, "temperature", "must be >= 0", asked);
  // below vLLM's epsilon, sampling is greedy in all but name, and logits / T overflow float32
  // (a temperature of 7e-46 made every logit infinite and the sampler ignore its grammar)
  const temperature = asked < TEMPERATURE_EPSILON ? 0 : asked;
  const topK = p.topK ?? 0;
  check(Number.isInteger(topK) && topK >= 0, "topK", "must be an integer >= 0", topK);
  const topP = p.topP ?? 1;
  check(Number.isFinite(topP) && topP > 0 && topP <= 1, "topP", "must be in (0, 1]", topP);
  const minP = p.minP ?? 0;
  check(Number.isFinite(minP) && minP >= 0 && minP <= 1, "minP", "must be in [0, 1]", minP);
  const repetitionPenalty = p.repetitionPenalty ?? 1;
  check(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0, "repetitionPenalty", "must be > 0", repetitionPenalty);
  const presencePenalty = p.presencePenalty ?? 0;
  check(Math.abs(presencePenalty) <= 2, "presencePenalty", "must be in [-2, 2]", presencePenalty);
  const frequencyPenalty = p.frequencyPenalty ?? 0;
  check(Math.abs(frequencyPenalty) <= 2, "frequencyPenalty", "must be in [-2, 2]", frequencyPenalty);
  const seed = p.seed ?? randomInt(0, 2 ** 32 - 1);
  check(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, "seed", "must be an integer in [0, 2^32)", seed);
  const logprobs = p.logprobs;
  if (logprobs !== undefined) check(Number.isInteger(logprobs) && logprobs >= 0 && logprobs <= 20, "logprobs", "must be an integer in [0, 20]", logprobs);
  const stop = [...(p.stop ?? [])];
  check(stop.every((s) => typeof s === "string" && s.length > 0), "stop", "must be non-empty strings", stop);
  const logitBias = new Map<number, number>();
  const entries = p.logitBias instanceof Map ? [...p.logitBias.entries()] : Object.entries(p.logitBias ?? {});
  for (const [k, v] of entries) {
    const token = Number(k);
    check(Number.isInteger(token) && token >= 0, "logitBias", "keys must be token ids", k);
    check(typeof v === "number" && v >= -100 && v <= 100, "logitBias", "values must be in [-100, 100]", v);
    logitBias.set(token, v);
  }
  return {
    sampler: {
      temperature,
      topK,
      topP,
      minP,
      repetitionPenalty,
      presencePenalty,
      frequencyPenalty,
      penaltyWindow: PENALTY_WINDOW,
      logitBias,
      seed,
      logprobs,
    },
    maxTokens,
    stop,
    stopAtEog: !(p.ignoreEos ?? false),
    priority: p.priority ?? 0,
    speculative: (p.speculative ?? true) && repetitionPenalty === 1 && presencePenalty === 0 && frequencyPenalty === 0 && logprobs === undefined && p.grammar === undefined,
  };
}

function check(ok: boolean, param: string, rule: string, value: unknown): void {
  if (!ok) throw new InferdError("invalid_argument", `invalid ${param}: ${JSON.stringify(value)} (${rule})`, { param });
}
