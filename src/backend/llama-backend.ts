/**
 * The llama.cpp backend, through node-llama-cpp (pinned to an exact version in package.json).
 *
 * Why the internal addon: node-llama-cpp's public API schedules and batches sequences itself,
 * which leaves the batch decisions (and most of the throughput) out of our hands. Its native
 * addon (`LlamaContext._ctx`, `LlamaModel._model`, `Llama._bindings`) exposes the batch-level
 * calls an engine needs: initBatch / addToBatch / decodeBatch / sampleToken and per-sequence KV
 * removal. This file (with the addon's types in `llama-addon.ts`) is the ONLY place that
 * touches those internals; `addon-contract.test.ts` fails loudly if an upgrade changes them.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp";
import { firstLine, InferdError } from "../util/errors.js";
import { Lru } from "../util/lru.js";
import { gbnfFor } from "./grammar.js";
import { SequenceSampler } from "./sequence-sampler.js";
import {
  internals, type AddonContext, type AddonGrammar, type AddonGrammarEvaluationState, type AddonModel,
  type BatchLogitIndex, type BindingModule,
} from "./llama-addon.js";
import { checkGgufFile, modelInfo, readArchitecture } from "./model-file.js";
import type {
  Backend,
  CompiledGrammar,
  PositionSample,
  GrammarSpec,
  KvLayout,
  ModelInfo,
  Sample,
  SamplerConfig,
  StepPlan,
  StepResult,
} from "./backend.js";

export interface LlamaBackendOptions {
  /** Path of a GGUF file. */
  path: string;
  threads: number;
  /** Context window of each sequence (KV cells per sequence). */
  contextSize: number;
  /** Sequences that can run at once. */
  maxSequences: number;
  /** Most tokens in one decode call. */
  batchSize: number;
  /** llama.cpp flash attention; "auto" (the default) enables it where the device supports it. */
  flashAttention?: boolean | "auto";
  embeddings?: boolean;
}

let llamaPromise: Promise<Llama> | undefined;

/** Recent llama.cpp log lines: kept quiet, but a load failure quotes the reason from them. */
const recentLogs: string[] = [];

function onLlamaLog(level: LlamaLogLevel, message: string): void {
  const line = message.trimEnd();
  if (line.length === 0) return;
  recentLogs.push(line);
  if (recentLogs.length > 50) recentLogs.shift();
  if (process.env.INFERD_DEBUG) process.stderr.write(`[llama.cpp ${level}] ${line}\n`);
}

/** The last "error loading model: <reason>" llama.cpp logged, if any. */
function lastLoadError(): string | undefined {
  for (let i = recentLogs.length - 1; i >= 0; i--) {
    const m = /error loading model: (.*)$/.exec(recentLogs[i]!);
    if (m) return m[1];
  }
  return undefined;
}

/** One Llama (the loaded native library) per process: loading it twice is wasteful. */
function llamaInstance(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: "never", // a prebuilt binary ships in the npm package; never compile or download
    logLevel: LlamaLogLevel.error,
    logger: onLlamaLog,
    // node-llama-cpp's own pool would default to more threads than cores; we set per context
    maxThreads: 0,
  });
  return llamaPromise;
}

export class LlamaBackend implements Backend {
  readonly model: ModelInfo;
  readonly kv: KvLayout;
  private readonly samplers = new Map<number, SequenceSampler>();
  /** A one-sequence context with embeddings on, made on first use. */
  private embedCtx: AddonContext | undefined;
  /**
   * A fresh evaluation state per GBNF text, which each sequence under that grammar clones:
   * making a state parses the GBNF again, about 20x the cost of a clone. Bounded, so distinct
   * schemas do not pile up; a state in use holds its own reference to the parsed grammar, so
   * evicting one never breaks a running request.
   */
  private readonly grammars = new Lru<string, AddonGrammarEvaluationState>(128, 64 * 1024 * 1024, (_, source) => source.length);

  private constructor(
    private readonly bindings: BindingModule,
    private readonly llamaModel: LlamaModel,
    private readonly addonModel: AddonModel,
    private readonly ctx: AddonContext,
    model: ModelInfo,
    kv: KvLayout,
    private _threads: number,
  ) {
    this.model = model;
    this.kv = kv;
  }

  /** Loads a GGUF file and creates its context. Errors are one-line InferdErrors. */
  static async load(opts: LlamaBackendOptions): Promise<LlamaBackend> {
    await checkGgufFile(opts.path);
    const llama = await llamaInstance();
    let llamaModel: LlamaModel;
    try {
      llamaModel = await llama.loadModel({ modelPath: opts.path, gpuLayers: 0 });
    } catch (e) {
      // llama.cpp's log lines reach JS through a queued callback: let them arrive first
      await new Promise((r) => setTimeout(r, 20));
      const reason = lastLoadError();
      recentLogs.length = 0;
      const arch = await readArchitecture(opts.path);
      if (arch !== undefined && !internals(llama).getIsArchSupported(arch)) {
        throw new InferdError("invalid_model", `unsupported model architecture "${arch}" in ${opts.path}`);
      }
      throw new InferdError("invalid_model", `cannot load ${opts.path}: ${reason ?? firstLine(e)}`);
    }
    const bindings = internals(llama);
    const addonModel = (llamaModel as unknown as { _model: AddonModel })._model;
    const ctx = new bindings.AddonContext(addonModel, {
      // The addon gives each of `sequences` a fixed share of `contextSize` (kv_unified = false).
      contextSize: opts.contextSize * opts.maxSequences,
      batchSize: opts.batchSize,
      sequences: opts.maxSequences,
      threads: opts.threads,
      flashAttention: opts.flashAttention ?? "auto",
      embeddings: opts.embeddings ?? false,
    });
    if (!(await ctx.init())) {
      await llamaModel.dispose();
      throw new InferdError("internal", `cannot create a context of ${opts.contextSize} x ${opts.maxSequences} tokens`);
    }
    const info = modelInfo(llamaModel, opts.path);
    const kv: KvLayout = {
      maxSequences: opts.maxSequences,
      cellsPerSequence: Math.floor(ctx.getContextSize() / opts.maxSequences),
      maxBatchTokens: opts.batchSize,
    };
    return new LlamaBackend(bindings, llamaModel, addonModel, ctx, info, kv, opts.threads);
  }

  get threads(): number {
    return this._threads;
  }

  /** Changes the decode thread count between steps (the engine may tune it per batch size). */
  setThreads(threads: number): void {
    if (threads !== this._threads) {
      this.ctx.setThreads(threads);
      this._threads = threads;
    }
  }

  tokenize(text: string, opts: { addBos: boolean; special: boolean }): number[] {
    const tokens = Array.from(this.addonModel.tokenize(text, opts.special));
    const bos = this.model.bosToken;
    if (opts.addBos && bos !== undefined && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
  }

  detokenize(tokens: readonly number[]): string {
    return this.addonModel.detokenize(Uint32Array.from(tokens), false);
  }

  isEog(token: number): boolean {
    return this.addonModel.isEogToken(token);
  }

  openSequence(seq: number, config: SamplerConfig, generated: readonly number[] = []): void {
    this.closeSampler(seq);
    let grammar: AddonGrammarEvaluationState | undefined;
    if (config.grammar !== undefined) {
      grammar = new this.bindings.AddonGrammarEvaluationState(this.grammarTemplate(config.grammar.source));
      for (const t of generated) if (!this.addonModel.isEogToken(t)) this.bindings.AddonSampler.acceptGrammarEvaluationStateToken(grammar, t);
    }
    this.samplers.set(seq, new SequenceSampler(this.bindings, this.addonModel, config, grammar));
  }

  async compileGrammar(spec: GrammarSpec): Promise<CompiledGrammar> {
    const source = await gbnfFor(await llamaInstance(), spec);
    this.grammarTemplate(source);
    return { source };
  }

  /** The unused state sequences under `source` clone; parses (and checks) the GBNF once. */
  private grammarTemplate(source: string): AddonGrammarEvaluationState {
    let t = this.grammars.get(source);
    if (t === undefined) {
      let g: AddonGrammar;
      try {
        g = new this.bindings.AddonGrammar(source, { addonExports: this.bindings, rootRuleName: "root" });
      } catch (e) {
        throw new InferdError("invalid_argument", `invalid grammar: ${firstLine(e)}`, { param: "grammar" });
      }
      t = new this.bindings.AddonGrammarEvaluationState(this.addonModel, g);
      this.grammars.set(source, t);
    }
    return t;
  }

  truncateSequence(seq: number, fromPos: number): void {
    this.ctx.removeTokenCellsFromSequence(seq, fromPos, -1);
  }

  closeSequence(seq: number): void {
    this.ctx.disposeSequence(seq);
    this.closeSampler(seq);
  }

  retainSequence(seq: number): void {
    this.closeSampler(seq);
  }

  async copySequence(from: number, to: number): Promise<void> {
    // with the split KV (kv_unified = false) this copies every cell of `from` into `to`'s stream
    await this.ctx.copySequenceStateFromOtherSequence(to, from);
  }

  async saveSequence(seq: number, file: string, tokens: readonly number[]): Promise<number> {
    return await this.ctx.saveSequenceStateToFile(file, seq, Uint32Array.from(tokens));
  }

  async restoreSequence(seq: number, file: string): Promise<number[]> {
    this.ctx.removeTokenCellsFromSequence(seq, 0, -1);
    try {
      return Array.from(await this.ctx.loadSequenceStateFromFile(file, seq, this.kv.cellsPerSequence));
    } catch (e) {
      this.ctx.removeTokenCellsFromSequence(seq, 0, -1);
      throw new InferdError("internal", `cannot restore KV state from ${file}: ${firstLine(e)}`);
    }
  }

  async run(plan: StepPlan): Promise<StepResult> {
    const total = plan.items.reduce((n, it) => n + it.tokens.length, 0);
    if (total === 0) return { samples: [] };
    this.ctx.initBatch(total);
    const logitIndexes: (Uint32Array | undefined)[] = new Array(plan.items.length);
    for (let i = 0; i < plan.items.length; i++) {
      const it = plan.items[i]!;
      const n = it.tokens.length;
      // drafted items need logits after each drafted token and the one before them
      const want = !it.sample ? EMPTY : Uint32Array.from({ length: (it.draft ?? 0) + 1 }, (_, j) => n - 1 - (it.draft ?? 0) + j);
      const idx = this.ctx.addToBatch(it.seq, it.firstPos, Uint32Array.from(it.tokens), want);
      logitIndexes[i] = it.sample ? idx : undefined;
    }
    await this.ctx.decodeBatch();
    const errors: (Error | undefined)[] = new Array(plan.items.length);
    const samples = await Promise.all(
      plan.items.map(async (it, i): Promise<Sample | undefined> => {
        const li = logitIndexes[i];
        if (li === undefined) return undefined;
        try {
          if (it.draft === undefined) return await this.sample(it.seq, li[0] as BatchLogitIndex, it.history, it.probs ?? false);
          // one sampler per sequence: its positions are sampled in order
          const positions: PositionSample[] = [];
          for (const index of li) {
            const s = await this.sample(it.seq, index as BatchLogitIndex, it.history, it.probs ?? false);
            positions.push(s.probs !== undefined ? { token: s.token, probs: s.probs } : { token: s.token });
          }
          return { token: positions.at(-1)!.token, positions };
        } catch (e) {
          errors[i] = e instanceof Error ? e : new Error(String(e));
          return undefined;
        }
      }),
    );
    return errors.some((e) => e !== undefined) ? { samples, errors } : { samples };
  }

  private sample(seq: number, index: BatchLogitIndex, history: readonly number[] | undefined, withProbs = false): Promise<Sample> {
    const s = this.samplers.get(seq);
    if (s === undefined) throw new InferdError("internal", `sequence ${seq} has no sampler`);
    return s.sample(this.ctx, index, history, withProbs);
  }

  async embed(tokens: readonly number[]): Promise<Float64Array> {
    if (tokens.length === 0) throw new InferdError("invalid_argument", "cannot embed an empty input", { param: "input" });
    if (tokens.length > this.kv.cellsPerSequence) {
      throw new InferdError("context_overflow", `input is ${tokens.length} tokens but the context window is ${this.kv.cellsPerSequence} tokens`, { param: "input" });
    }
    if (this.embedCtx === undefined) {
      // the whole input goes in one batch: encoder (non-causal) models need that
      const ctx = new this.bindings.AddonContext(this.addonModel, {
        contextSize: this.kv.cellsPerSequence,
        batchSize: this.kv.cellsPerSequence,
        sequences: 1,
        threads: this._threads,
        embeddings: true,
      });
      if (!(await ctx.init())) throw new InferdError("internal", "cannot create an embedding context");
      this.embedCtx = ctx;
    }
    const ctx = this.embedCtx;
    ctx.removeTokenCellsFromSequence(0, 0, -1);
    ctx.initBatch(tokens.length);
    ctx.addToBatch(0, 0, Uint32Array.from(tokens), Uint32Array.of(tokens.length - 1));
    await ctx.decodeBatch();
    const v = ctx.getEmbedding(tokens.length);
    ctx.removeTokenCellsFromSequence(0, 0, -1);
    return v;
  }

  private closeSampler(seq: number): void {
    const s = this.samplers.get(seq);
    if (s !== undefined) {
      s.dispose();
      this.samplers.delete(seq);
    }
  }

  async dispose(): Promise<void> {
    for (const seq of [...this.samplers.keys()]) this.closeSampler(seq);
    await this.embedCtx?.dispose();
    await this.ctx.dispose();
    await this.llamaModel.dispose();
  }
}

const EMPTY = new Uint32Array(0);
