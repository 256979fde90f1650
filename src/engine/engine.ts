import type { Backend, KvLayout, ModelInfo } from "../backend/backend.js";
import { LlamaBackend } from "../backend/llama-backend.js";
import { availableCpus } from "../backend/threads.js";
import { resolveModel } from "../models/resolve.js";
import { OutputProcessor, type TokenLogprobInfo } from "../output/output-processor.js";
import { AsyncQueue } from "../util/async-queue.js";
import { InferdError } from "../util/errors.js";
import { EngineCore, type CoreEvent, type StepStats } from "./engine-core.js";
import { ThreadTuner } from "./thread-tuner.js";
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { inferdHome } from "../util/paths.js";
import { CostModel } from "./cost-model.js";
import { StateStore } from "./state-store.js";
import type { SpecController, SpecStats } from "../spec/controller.js";
import { loadSpec } from "../spec/load-spec.js";
import type { Drafter } from "../spec/drafter.js";
import { resolveParams, type GenerateParams } from "./params.js";
import type { FinishReason, Sequence } from "./sequence.js";
import { assertNever } from "../util/assert-never.js";
import type { CpuArbiter } from "./cpu-arbiter.js";
import { defaultContextSize, sequencePlan } from "./load-plan.js";

export interface EngineOptions {
  /** Local .gguf path, `hf:<owner>/<repo>/<file>.gguf` or `synthetic:<shape>[-<quant>]`; default: a small instruct model. */
  model?: string;
  /**
   * llama.cpp threads, fixed. Default: measured: each step uses the count (1..the CPUs this
   * process may really use, cgroup-aware) that measured fastest for its batch size.
   */
  threads?: number;
  /** Upper bound of the measured choice when `threads` is not given; default: the CPUs available. */
  maxThreads?: number;
  /** llama.cpp flash attention: true, false or "auto" (default; on where supported). */
  flashAttention?: boolean | "auto";
  /** Context window per sequence; default: the model's, capped at 4096. */
  contextSize?: number;
  /** Sequences served at once; default 8. Each holds a full context of KV (see KvLayout). */
  maxSequences?: number;
  /**
   * Sequences decoding at once, at most `maxSequences` (default: all of them). Past some batch
   * size the kernels stop paying (BENCHMARKS.md): cap the running batch there, extra requests wait.
   */
  maxRunning?: number;
  /** Most tokens per decode step (the chunked-prefill budget); default 512. */
  batchSize?: number;
  /**
   * Prompt chunks stop being added once a step holds this many tokens, but a prompt whose
   * rest fits in `batchSize` is not split; default `batchSize` (no limit). On this machine 256
   * brings cached requests' first tokens ~40% sooner when cold prompts are being computed,
   * for 10-15% less output throughput (BENCHMARKS.md, `bench prefix --parts schedule`).
   */
  stepTargetTokens?: number;
  /** Requests allowed to wait beyond the running ones; default 256. */
  maxWaiting?: number;
  /** Show download progress on stderr. */
  progress?: boolean;
  /**
   * Automatic prefix caching (default on): finished requests leave their KV as cached
   * prefixes, and new requests compute only what no cached prefix holds.
   */
  prefixCache?: boolean;
  /**
   * Budget in bytes of the second KV tier: prefixes evicted from KV are saved there and
   * restored when that is measured to beat recomputing. 0 turns it off; default 2 GiB.
   */
  kvTierBytes?: number;
  /**
   * KV slots kept beyond `maxSequences` for cached prefixes, so that finished requests' prefixes
   * survive while every running slot is busy (each costs a context of KV memory); default
   * `maxSequences` with prefix caching, 0 without.
   */
  cacheSequences?: number;
  /**
   * Speculative decoding: "ngram" (prompt lookup), "draft" (a draft model, `draftModel`), or
   * "off" (default, unless `draftModel` is given).
   */
  speculative?: "off" | "ngram" | "draft";
  /** The draft model (same vocabulary as the target): a path, hf:... or synthetic:... */
  draftModel?: string;
  /** A drafter of your own (implements `Drafter`): takes precedence over `speculative`. */
  drafter?: Drafter;
  /** Most tokens drafted per step (default 16); each sequence adapts below it. */
  specK?: number;
  /**
   * Adapt k per sequence to its acceptance and the measured cost of verifying (default true);
   * false always drafts `specK` tokens, to test or measure speculation where it does not pay.
   */
  specAdaptive?: boolean;
  /** Folder of the second tier (on a RAM filesystem such as /dev/shm for a RAM tier); default $INFERD_HOME/kv-cache. */
  kvTierDir?: string;
  /**
   * Shared by engines in one process: each loop iteration's compute holds it, so two models
   * never run llama.cpp threads at once (see CpuArbiter). Default: none (a single engine).
   */
  cpu?: CpuArbiter;
}

/** Timing and size figures of one finished request. */
export interface GenerateStats {
  promptTokens: number;
  outputTokens: number;
  /** Waiting before the first of its tokens was computed. */
  queueMs: number;
  /** Arrival to first generated token. */
  timeToFirstTokenMs: number;
  /** Mean time per output token after the first. */
  timePerOutputTokenMs: number;
  totalMs: number;
  /** Output tokens per second after the first token (decode speed). */
  tokensPerSecond: number;
  /** Prompt tokens found in the prefix cache (not computed for this request). */
  cachedTokens: number;
  /** Its share of the machine's compute: each step's time split over the step's tokens, ms. */
  computeMs: number;
  /** What its cached prompt tokens would have cost to compute (at the measured prefill ms per token), ms. */
  savedComputeMs: number;
}

/** What `generate` yields: text as it becomes final, then one `done`. */
export type GenerateEvent =
  | {
      type: "delta";
      /** New text (may be "" while a character or a possible stop string is incomplete). */
      text: string;
      /** Token ids generated in this step. */
      tokens: number[];
      logprobs?: TokenLogprobInfo[];
      /**
       * On the first delta only: prompt tokens found in the prefix cache, known from admission
       * (so a stream's opening usage can already say what was cached).
       */
      cachedTokens?: number;
    }
  | {
      type: "done";
      finishReason: FinishReason;
      /** The stop string that ended generation (finishReason "stop"), if one did. */
      stopSequence?: string;
      stats: GenerateStats;
    };

export interface GenerateOptions {
  signal?: AbortSignal;
}

/**
 * inferd's engine: loads a model and serves any number of concurrent `generate` calls
 * through one continuous-batching loop.
 */
export class Engine {
  private constructor(
    readonly backend: Backend,
    private readonly core: EngineCore,
    /** Set when threads are chosen per step from measurements (no fixed `threads` given). */
    readonly threadTuner: ThreadTuner | undefined,
  ) {}

  static async load(opts: EngineOptions = {}): Promise<Engine> {
    const threads = opts.threads ?? opts.maxThreads ?? availableCpus();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new InferdError("invalid_argument", `invalid threads: ${opts.threads} (must be an integer >= 1)`, { param: "threads" });
    }
    const path = await resolveModel(opts.model, { progress: opts.progress });
    const { maxSequences, maxRunning, prefixCache, kvSequences } = sequencePlan(opts);
    const batchSize = opts.batchSize ?? 512;
    const probe = opts.contextSize;
    if (probe !== undefined && (!Number.isInteger(probe) || probe < 1)) {
      throw new InferdError("invalid_argument", `invalid contextSize: ${probe} (must be an integer >= 1)`, { param: "contextSize" });
    }
    const contextSize = opts.contextSize ?? (await defaultContextSize(path));
    const backend = await LlamaBackend.load({
      path,
      threads,
      contextSize,
      maxSequences: kvSequences,
      batchSize: Math.max(batchSize, maxSequences),
      flashAttention: opts.flashAttention,
    });
    const tuner = opts.threads === undefined ? new ThreadTuner(threads) : undefined;
    const cost = new CostModel();
    const tierBytes = opts.kvTierBytes ?? 2 * 1024 ** 3;
    let store: StateStore | undefined;
    if (prefixCache && tierBytes > 0) {
      const st = await stat(path);
      // a state belongs to one model file and one KV layout
      const fingerprint = `${basename(path)}|${st.size}|${st.mtimeMs}|${backend.model.quantization}|${backend.kv.cellsPerSequence}`;
      store = await StateStore.open(opts.kvTierDir ?? join(inferdHome(), "kv-cache"), tierBytes, fingerprint, cost);
    }
    let spec: SpecController | undefined;
    try {
      spec = await loadSpec(opts, backend, threads, maxRunning);
    } catch (e) {
      await backend.dispose();
      throw e;
    }
    const core = new EngineCore(backend, { maxRunning, maxWaiting: opts.maxWaiting ?? 256, prefixCache, stepTargetTokens: opts.stepTargetTokens }, tuner, cost, store, spec, opts.cpu);
    return new Engine(backend, core, tuner);
  }

  get model(): ModelInfo {
    return this.backend.model;
  }

  get kv(): KvLayout {
    return this.backend.kv;
  }

  /** Threads of the last step (see `threadTuner` for the choice per batch size). */
  get threads(): number {
    return this.backend.threads;
  }

  /** "2" when fixed, "auto 1-2" when measured per batch size. */
  get threadsDescription(): string {
    return this.threadTuner ? `auto 1-${this.threadTuner.maxThreads}` : String(this.backend.threads);
  }

  /**
   * Throws "overloaded" (with a retry-after hint) unless `count` more requests can be taken now:
   * a request with n choices checks all of them before starting any.
   */
  checkCapacity(count: number): void {
    this.core.checkCapacity(count);
  }

  /** Requests running (holding a sequence) and waiting in the queue now. */
  get load(): { running: number; waiting: number } {
    return { running: this.core.scheduler.runningCount, waiting: this.core.scheduler.waitingCount };
  }

  /** Share of KV cells held by running requests (0..1; cached prefixes count as free: they are evictable). */
  get kvUsage(): number {
    return this.core.scheduler.kvUsage;
  }

  /** Whether finished requests' KV is kept for later prompts (automatic prefix caching). */
  get prefixCaching(): boolean {
    return this.core.scheduler.config.prefixCache === true;
  }

  /** Prompt tokens looked up in the prefix cache and found there, since load (metrics). */
  get prefixCacheStats(): { queries: number; hits: number } {
    return { ...this.core.scheduler.prefixStats };
  }

  /** Speculative decoding counters (draft tokens proposed and accepted), when it is on. */
  get specStats(): SpecStats | undefined {
    return this.core.spec === undefined ? undefined : { ...this.core.spec.stats };
  }

  /** Per-step figures (batch size, tokens, time) for metrics. */
  onStep(fn: (s: StepStats) => void): void {
    this.core.onStep(fn);
  }

  tokenize(text: string, opts: { addBos?: boolean; special?: boolean } = {}): number[] {
    this.core.checkOpen(); // after dispose: "offline", not the native "Model is disposed"
    return this.backend.tokenize(text, { addBos: opts.addBos ?? this.model.addBos, special: opts.special ?? true });
  }

  detokenize(tokens: readonly number[]): string {
    this.core.checkOpen();
    return this.backend.detokenize(tokens);
  }

  /**
   * Generates from a prompt (text, or token ids) and yields text deltas as they become final,
   * then a `done` event. An empty prompt starts from the BOS token alone. Aborting `signal`, or
   * leaving the loop early, frees the request's sequence before the next step.
   */
  async *generate(input: string | readonly number[], params: GenerateParams = {}, opts: GenerateOptions = {}): AsyncGenerator<GenerateEvent, void, undefined> {
    this.core.checkOpen();
    const resolved = resolveParams(params);
    const vocab = this.model.vocabSize;
    for (const token of resolved.sampler.logitBias.keys()) {
      if (vocab > 0 && token >= vocab) {
        throw new InferdError("invalid_argument", `invalid logitBias: token ${token} is outside the vocabulary (${vocab} tokens)`, { param: "logitBias" });
      }
    }
    const prompt = this.promptTokens(input);
    if (params.grammar !== undefined) {
      resolved.sampler.grammar = await this.backend.compileGrammar(params.grammar);
      // a finished grammar allows nothing but end-of-generation
      resolved.stopAtEog = true;
    }
    const queue = new AsyncQueue<GenerateEvent>();
    const bos = this.model.bosToken;
    const context = prompt.slice(-6).filter((t) => t !== bos);
    const out = new OutputProcessor((t) => this.backend.detokenize(t), resolved.stop, context);
    let seq: Sequence | undefined;
    const end = (reason: FinishReason) => {
      const rest = reason === "abort" ? "" : out.flush();
      if (rest.length > 0) queue.push({ type: "delta", text: rest, tokens: [] });
      const stopSequence = out.matchedStop;
      queue.push({ type: "done", finishReason: reason, ...(stopSequence !== undefined ? { stopSequence } : {}), stats: stats(seq!, this.core.prefillMsPerToken) });
      queue.end();
    };
    let started = false;
    const onEvent = (ev: CoreEvent) => {
      switch (ev.type) {
        case "token": {
          const p = out.push(ev.token, ev.sample);
          queue.push({
            type: "delta",
            text: p.text,
            tokens: [ev.token],
            ...(p.logprob ? { logprobs: [p.logprob] } : {}),
            ...(started ? {} : { cachedTokens: seq!.cachedTokens ?? 0 }),
          });
          started = true;
          if (p.stopped) {
            if (ev.finished === undefined) this.core.finish(seq!, "stop"); // reports "ended"
            else end("stop");
          } else if (ev.finished !== undefined) end(ev.finished);
          return;
        }
        case "ended":
          return end(ev.reason);
        case "error":
          return queue.fail(ev.error);
        default:
          return assertNever(ev);
      }
    };
    seq = this.core.add(prompt, resolved, onEvent);
    const onAbort = () => this.core.finish(seq!, "abort");
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      yield* queue;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      if (seq.status !== "finished") this.core.finish(seq, "abort");
    }
  }

  /**
   * Embedding vectors of texts (or token arrays), L2-normalized as OpenAI's API returns them.
   * Pooling is the model's (its GGUF's pooling type; the last token when it has none).
   */
  async embed(inputs: readonly (string | readonly number[])[]): Promise<{ embedding: number[]; tokens: number }[]> {
    const out: { embedding: number[]; tokens: number }[] = [];
    for (const input of inputs) {
      const tokens = this.promptTokens(input);
      const v = await this.core.embed(tokens);
      let norm = 0;
      for (const x of v) norm += x * x;
      norm = Math.sqrt(norm) || 1;
      out.push({ embedding: Array.from(v, (x) => x / norm), tokens: tokens.length });
    }
    return out;
  }

  private promptTokens(input: string | readonly number[]): number[] {
    const tokens = typeof input === "string" ? (input.length > 0 ? this.tokenize(input) : []) : [...input];
    const vocab = this.model.vocabSize;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || (vocab > 0 && t >= vocab)) {
        throw new InferdError("invalid_argument", `invalid prompt token ${t} (vocabulary has ${vocab} tokens)`, { param: "prompt" });
      }
    }
    if (tokens.length === 0) {
      const start = this.model.bosToken ?? this.model.eosToken;
      if (start === undefined) throw new InferdError("invalid_argument", "empty prompt and the model has no BOS token", { param: "prompt" });
      tokens.push(start);
    }
    return tokens;
  }

  /**
   * Ends every request ("abort"), waits for the step in flight, then frees the native objects in
   * order (drafter, context, model). Later calls to generate fail with "offline".
   */
  async dispose(): Promise<void> {
    await this.core.close();
    await this.core.spec?.drafter.dispose();
    await this.backend.dispose();
  }
}

function stats(seq: Sequence, prefillMsPerToken: number | undefined): GenerateStats {
  const t = seq.times;
  const finished = t.finished ?? performance.now();
  const outputTokens = seq.outputLength;
  const first = t.firstToken;
  const decodeMs = first === undefined ? 0 : finished - first;
  return {
    promptTokens: seq.promptLength,
    outputTokens,
    queueMs: (t.scheduled ?? finished) - t.arrival,
    timeToFirstTokenMs: first === undefined ? 0 : first - t.arrival,
    timePerOutputTokenMs: outputTokens > 1 ? decodeMs / (outputTokens - 1) : 0,
    totalMs: finished - t.arrival,
    tokensPerSecond: outputTokens > 1 && decodeMs > 0 ? ((outputTokens - 1) * 1000) / decodeMs : 0,
    cachedTokens: seq.cachedTokens ?? 0,
    computeMs: seq.computeMs,
    savedComputeMs: (seq.cachedTokens ?? 0) * (prefillMsPerToken ?? 0),
  };
}
