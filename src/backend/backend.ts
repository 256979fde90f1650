/**
 * The one contract between inferd's engine and the arithmetic underneath (llama.cpp today).
 * The engine decides what to compute; a backend only computes it. Everything here is called
 * from the engine loop, one call at a time: the loop never overlaps two `run`s.
 */

/** What the model is, read from its GGUF. */
export interface ModelInfo {
  /** Path of the GGUF file. */
  path: string;
  /** `general.name`, or the file name. */
  name: string;
  /** `general.architecture`, e.g. "llama", "qwen2". */
  architecture: string;
  parameterCount: number;
  /** e.g. "Q8_0", "F32". */
  quantization: string;
  /** The context length the model was trained with. */
  trainContextSize: number;
  vocabSize: number;
  /** Jinja chat template from the GGUF, when it has one. */
  chatTemplate: string | undefined;
  bosToken: number | undefined;
  eosToken: number | undefined;
  /** Text of the BOS / EOS tokens (chat templates use them). */
  bosText: string | undefined;
  eosText: string | undefined;
  /** Whether tokenizing a prompt should start with BOS (the GGUF's add_bos_token). */
  addBos: boolean;
  /** Size of the model's hidden state: its embedding vectors' dimensions. */
  embeddingSize: number;
  /** True for embedding-only models (no token generation). */
  embeddingOnly: boolean;
  /**
   * Texts that tokenizing with `special: true` turns into control tokens (`<|im_end|>`, `<s>`):
   * client text holding one must be tokenized as plain text, or it could forge a turn.
   */
  controlTokenTexts: readonly string[];
  /**
   * An upper bound on the UTF-8 bytes one token stands for: a text of B bytes has at least
   * B / maxTokenBytes tokens, so an input too long for the context is refused before the
   * (synchronous) tokenizer spends time on it.
   */
  maxTokenBytes: number;
}

/** How the backend's KV cache is shaped, fixed at load time. */
export interface KvLayout {
  /** How many sequences can hold KV at once (sequence ids 0..maxSequences-1). */
  maxSequences: number;
  /** KV cells each sequence can hold: its context window. */
  cellsPerSequence: number;
  /** The most tokens one `run` may carry across all its items. */
  maxBatchTokens: number;
}

/**
 * Sampling settings the backend applies when a plan asks for a sample. Resolved values only:
 * validation and defaults belong to the engine.
 */
export interface SamplerConfig {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** How many recent generated tokens the penalties look at. */
  penaltyWindow: number;
  logitBias: ReadonlyMap<number, number>;
  seed: number;
  /** Report the chosen token's logprob plus this many top alternatives; undefined: none. */
  logprobs: number | undefined;
  /** A compiled grammar (from `Backend.compileGrammar`) the sampled text must follow. */
  grammar?: CompiledGrammar;
}

/**
 * A formal language sampled text must follow (constrained decoding). The JSON forms may sit
 * between literal `prefix` and `suffix` text (a tool call's `<tool_call>` markup, say).
 */
export type GrammarSpec =
  | { type: "json_object"; prefix?: string; suffix?: string }
  | {
      type: "json_schema";
      schema: Record<string, unknown>;
      prefix?: string;
      suffix?: string;
      /** The request parameter a rejected schema is reported against (default "response_format"). */
      param?: string;
    }
  | { type: "gbnf"; grammar: string };

/** A grammar in the backend's own form, checked when the request arrived. */
export interface CompiledGrammar {
  readonly source: string;
}

/** One sequence's share of a step. */
export interface PlanItem {
  /** KV sequence id (0..maxSequences-1). */
  seq: number;
  /** Position of `tokens[0]` in the sequence. */
  firstPos: number;
  tokens: readonly number[];
  /** Sample a next token from the logits after the last of `tokens`. */
  sample: boolean;
  /** Recent generated tokens, for penalties; only read when penalties are on. */
  history?: readonly number[];
  /**
   * Speculative decoding: the last `draft` tokens are drafted guesses. With `sample`, the
   * backend samples after each of the last `draft + 1` tokens (`Sample.positions`).
   */
  draft?: number;
  /** Also return the sampling distribution at each sampled position (speculative sampling, drafters). */
  probs?: boolean;
}

/** A step: plain data, built by the scheduler, so it can be tested without a model. */
export interface StepPlan {
  items: PlanItem[];
}

/** One alternative token and its log-probability under the model's raw distribution. */
export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** What the request's sampler made of one position: its token and, when asked, its distribution. */
export interface PositionSample {
  token: number;
  /** token -> probability over the candidates the sampler keeps (temperature, top-k/p applied). */
  probs?: Map<number, number>;
}

export interface Sample {
  token: number;
  /** The distribution `token` was drawn from, when the plan item asked for `probs`. */
  probs?: Map<number, number>;
  /** Items with `draft`: the sampler's verdict after each of the last `draft + 1` tokens, in order. */
  positions?: PositionSample[];
  /** Set when the sequence's sampler asked for logprobs. */
  logprob?: number;
  top?: TokenLogprob[];
}

/** What a step produced: `samples[i]` belongs to `plan.items[i]` (undefined where no sample). */
export interface StepResult {
  samples: (Sample | undefined)[];
  /**
   * Where sampling an item failed (a grammar that cannot accept the sampled token, say): that
   * item's request fails alone; the step's KV and the other items' samples stand.
   */
  errors?: (Error | undefined)[];
}

export interface Backend {
  readonly model: ModelInfo;
  readonly kv: KvLayout;
  /** llama.cpp threads used for decoding. */
  readonly threads: number;
  /** Changes the thread count for the next `run`s (the engine tunes it per batch size). */
  setThreads(threads: number): void;

  tokenize(text: string, opts: { addBos: boolean; special: boolean }): number[];
  /** Text of tokens; control tokens render as nothing. Partial UTF-8 shows as U+FFFD. */
  detokenize(tokens: readonly number[]): string;
  /** End-of-generation token (EOS, EOT, im_end...). */
  isEog(token: number): boolean;

  /**
   * Compiles a grammar for `SamplerConfig.grammar`. Called when a request arrives, before it is
   * queued, so a bad grammar or schema is the request's error at once (InferdError
   * "invalid_argument").
   */
  compileGrammar(spec: GrammarSpec): Promise<CompiledGrammar>;

  /**
   * Called when a sequence id is given to a request: sets up its sampler. `generated` holds the
   * tokens it already generated (a preempted request coming back): stateful samplers such as a
   * grammar replay them.
   */
  openSequence(seq: number, sampler: SamplerConfig, generated?: readonly number[]): void;
  /** Drop KV cells from `fromPos` on (all of them when 0) so the sequence can be recomputed. */
  truncateSequence(seq: number, fromPos: number): void;
  /** Called when a request leaves the sequence id: frees its KV cells and sampler. */
  closeSequence(seq: number): void;
  /**
   * Called when a request leaves the sequence id but its KV stays as a cached prefix for later
   * requests: frees the sampler only.
   */
  retainSequence(seq: number): void;
  /**
   * Makes `to` hold all of `from`'s KV cells (the caller truncates the tail it does not want).
   * Called between steps, when a new request starts from a prefix another sequence computed.
   */
  copySequence(from: number, to: number): Promise<void>;
  /** Writes a sequence's KV (for `tokens`) to a file; returns its size in bytes. Between steps. */
  saveSequence(seq: number, file: string, tokens: readonly number[]): Promise<number>;
  /** Loads a file `saveSequence` wrote into `seq`, replacing its KV; returns the tokens it holds. Between steps. */
  restoreSequence(seq: number, file: string): Promise<number[]>;

  /** Evaluate a step and sample where asked. Never called concurrently. */
  run(plan: StepPlan): Promise<StepResult>;

  /**
   * The embedding of a whole input, pooled as the GGUF says (the last token's hidden state when
   * it names no pooling). Called by the engine loop between steps, never during `run`.
   */
  embed(tokens: readonly number[]): Promise<Float64Array>;

  dispose(): Promise<void>;
}
