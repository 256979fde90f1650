/**
 * One sequence's native samplers, owned by it alone: the samples of a step run concurrently on
 * the addon's worker threads, and a native sampler keeps scratch buffers (its candidate array)
 * that two concurrent samples would corrupt (concurrent logprobs requests once shared one and
 * crashed the process).
 */
import { InferdError } from "../util/errors.js";
import type { Sample, SamplerConfig, TokenLogprob } from "./backend.js";
import type { AddonContext, AddonGrammarEvaluationState, AddonModel, AddonSampler, AddonSamplerConfig, BatchLogitIndex, BindingModule } from "./llama-addon.js";

export class SequenceSampler {
  private readonly native: AddonSampler;
  /** Greedy, no penalties: reads the raw distribution for logprobs (only when asked for). */
  private readonly raw: AddonSampler | undefined;
  /** The object given to applyConfig, kept to re-apply with a new penalty history. */
  private readonly nativeConfig: AddonSamplerConfig;
  private readonly penalties: boolean;

  /** `grammar`: this sequence's own evaluation state, which every sample advances. */
  constructor(bindings: BindingModule, model: AddonModel, private readonly config: SamplerConfig, grammar: AddonGrammarEvaluationState | undefined) {
    this.native = new bindings.AddonSampler(model);
    this.penalties = config.repetitionPenalty !== 1 || config.presencePenalty !== 0 || config.frequencyPenalty !== 0;
    const c: AddonSamplerConfig = { temperature: config.temperature, seed: config.seed };
    if (config.temperature > 0) {
      if (config.topK > 0) c.topK = config.topK;
      if (config.topP < 1) c.topP = config.topP;
      if (config.minP > 0) c.minP = config.minP;
    }
    if (this.penalties) {
      c.repeatPenalty = config.repetitionPenalty;
      c.repeatPenaltyPresencePenalty = config.presencePenalty;
      c.repeatPenaltyFrequencyPenalty = config.frequencyPenalty;
      c.repeatPenaltyMaxTokens = config.penaltyWindow;
      c.repeatPenaltyTokens = new Uint32Array(0);
    }
    if (grammar !== undefined) c.grammarEvaluationState = grammar;
    if (config.logitBias.size > 0) {
      c.tokenBiasKeys = Uint32Array.from(config.logitBias.keys());
      // -Infinity bans a token; the addon takes a float weight added to the logit
      c.tokenBiasValues = Float32Array.from(config.logitBias.values());
    }
    this.native.applyConfig(c);
    this.nativeConfig = c;
    if (config.logprobs !== undefined) {
      this.raw = new bindings.AddonSampler(model);
      this.raw.applyConfig({ temperature: 0 });
    }
  }

  /** Samples at a batch logit index; with `withProbs`, the distribution the token was drawn from. */
  async sample(ctx: AddonContext, index: BatchLogitIndex, history: readonly number[] | undefined, withProbs: boolean): Promise<Sample> {
    if (this.penalties) {
      const h = history ?? [];
      this.nativeConfig.repeatPenaltyTokens = Uint32Array.from(h.slice(Math.max(0, h.length - this.config.penaltyWindow)));
      this.native.applyConfig(this.nativeConfig);
    }
    if (withProbs) {
      const [token, flat] = await ctx.sampleToken(index, this.native, true);
      if (token === -1) throw new InferdError("internal", "the sampler returned no token");
      const probs = new Map<number, number>();
      // flat is [token, probability, token, probability, ...]
      for (let i = 0; i + 1 < (flat?.length ?? 0); i += 2) probs.set(flat![i]!, flat![i + 1]!);
      return { token, probs };
    }
    const token = await ctx.sampleToken(index, this.native);
    if (token === -1) throw new InferdError("internal", "the sampler returned no token");
    if (this.config.logprobs === undefined || this.raw === undefined) return { token };
    return { token, ...(await this.logprobs(ctx, this.raw, index, token, this.config.logprobs)) };
  }

  /** Logprob of `token` and the top `n` alternatives under the raw (unpenalized, T=1) distribution. */
  private async logprobs(ctx: AddonContext, raw: AddonSampler, index: BatchLogitIndex, token: number, n: number): Promise<{ logprob: number; top: TokenLogprob[] }> {
    const [, probs] = await ctx.sampleToken(index, raw, true);
    const flat = probs ?? [];
    const top: TokenLogprob[] = [];
    let logprob = -Infinity;
    // flat is [token, probability, token, probability, ...], most probable first
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const t = flat[i]!;
      const lp = Math.log(flat[i + 1]!);
      if (top.length < n) top.push({ token: t, logprob: lp });
      if (t === token) logprob = lp;
      if (top.length >= n && logprob !== -Infinity) break;
    }
    return { logprob, top };
  }

  dispose(): void {
    this.native.dispose();
    this.raw?.dispose();
  }
}
