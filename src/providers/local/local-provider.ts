/**
 * Models on this machine as a Provider. It owns everything local: the chat template, BOS and
 * tokenization (content as text, bounded before the tokenizer runs), context checks, the turn
 * memo, tool-call grammars and extraction, response formats as grammars, and the n choices.
 */
import type { GrammarSpec } from "../../backend/backend.js";
import type { Engine } from "../../engine/engine.js";
import type { GenerateParams } from "../../engine/params.js";
import type { TokenLogprobInfo } from "../../output/output-processor.js";
import { InferdError } from "../../util/errors.js";
import type { EmbeddingRequest, EmbeddingResult, LocalLoad, LogprobEntry, Provider, ProviderEvent, ProviderRequest, ResponseFormat, Usage } from "../provider.js";
import { checkTokenBound } from "./bounded-tokenize.js";
import { chatPrompt } from "./chat-prompt.js";
import { checkFits, checkLogitBias, generateChoices, type RequestRecord } from "./choices.js";
import type { EngineSource } from "./engines.js";
import { planTools, ToolCallExtractor } from "./tool-calls.js";
import { TurnMemo } from "./turn-memo.js";
import { emptyUsage } from "../usage.js";

/** What a request becomes for the engine. */
interface Job {
  prompt: number[];
  /** The rendered chat, when its turns are remembered. */
  promptText: string | undefined;
  params: GenerateParams;
  /** Tool calls to parse out of the output: "forced" when a grammar makes it all calls. */
  tools: "none" | "parse" | "forced";
  /** Completions with echo: the prompt's text, first in each choice. */
  echo: string;
}

export class LocalProvider implements Provider {
  /** Per engine: chat turns' real tokens (an unloaded engine takes its memo with it). */
  private readonly memos = new WeakMap<Engine, TurnMemo>();

  constructor(
    readonly name: string,
    private readonly engines: EngineSource,
  ) {}

  async *generate(req: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const t0 = performance.now();
    const lease = await this.engines.acquire(req.model, req.signal);
    try {
      const engine = lease.engine;
      const memo = this.memo(engine);
      const job = await this.prepare(engine, memo, req);
      let record: RequestRecord | undefined;
      const events = generateChoices(engine, memo, job.prompt, job.params, req.n, req.signal, job.promptText, (r) => (record = r));
      const extractors = Array.from({ length: req.n }, () => (job.tools === "none" ? undefined : new ToolCallExtractor({ forced: job.tools === "forced" })));
      const calls = new Array<number>(req.n).fill(0);
      const begun = new Set<number>();
      let firstOutput: number | undefined;
      for await (const ev of events) {
        const choice = ev.index;
        if (ev.type === "delta" && ev.cachedTokens !== undefined && begun.size === 0) {
          yield { type: "start", inputTokens: job.prompt.length, cachedInputTokens: ev.cachedTokens };
        }
        if (!begun.has(choice)) {
          begun.add(choice);
          if (job.echo.length > 0) yield { type: "text", choice, text: job.echo };
        }
        const x = extractors[choice];
        const piece = ev.type === "delta" ? (x?.push(ev.text) ?? { content: ev.text, calls: [] }) : (x?.flush() ?? { content: "", calls: [] });
        const logprobs = ev.type === "delta" && ev.logprobs !== undefined ? ev.logprobs.map(entry) : undefined;
        if (piece.content.length > 0 || logprobs !== undefined) {
          firstOutput ??= performance.now();
          yield { type: "text", choice, text: piece.content, ...(logprobs !== undefined ? { logprobs } : {}) };
        }
        for (const call of piece.calls) {
          firstOutput ??= performance.now();
          yield { type: "tool_call", choice, index: calls[choice]!++, id: call.id, name: call.function.name, arguments: call.function.arguments };
        }
        if (ev.type === "done") {
          const reason = ev.finishReason === "stop" && calls[choice]! > 0 ? "tool_calls" : ev.finishReason;
          yield { type: "finish", choice, reason, ...(ev.stopSequence !== undefined ? { stopSequence: ev.stopSequence } : {}) };
        }
      }
      yield { type: "usage", usage: this.usage(req.model, job.prompt.length, record, t0, firstOutput) };
    } finally {
      lease.release();
    }
  }

  async embed(req: EmbeddingRequest): Promise<EmbeddingResult> {
    const t0 = performance.now();
    const lease = await this.engines.acquire(req.model, req.signal);
    try {
      const engine = lease.engine;
      // a model's vectors have one size: shortening them is meaningful only for models trained for it
      if (req.dimensions !== undefined && req.dimensions !== engine.model.embeddingSize) {
        throw new InferdError("invalid_argument", `dimensions ${req.dimensions} is not supported: "${req.model}" embeds in ${engine.model.embeddingSize} dimensions`, { param: "dimensions" });
      }
      for (const input of req.inputs) if (typeof input === "string") await checkTokenBound(engine, input, "input");
      const out = await engine.embed(req.inputs);
      const tokens = out.reduce((s, o) => s + o.tokens, 0);
      const totalMs = performance.now() - t0;
      return { vectors: out.map((o) => o.embedding), usage: { ...emptyUsage(this.name, req.model), inputTokens: tokens, timing: { queuedMs: 0, firstTokenMs: undefined, totalMs } } };
    } finally {
      lease.release();
    }
  }

  async countTokens(req: ProviderRequest): Promise<number> {
    const lease = await this.engines.acquire(req.model, req.signal);
    try {
      return (await this.prompt(lease.engine, this.memo(lease.engine), req)).prompt.length;
    } finally {
      lease.release();
    }
  }

  contextWindow(model: string): number | undefined {
    return this.engines.peek(model)?.kv.cellsPerSequence;
  }

  load(model: string): LocalLoad | undefined {
    const e = this.engines.peek(model);
    if (e === undefined) return undefined;
    const spec = e.specStats;
    return { ...e.load, kvUsage: e.kvUsage, prefixCache: e.prefixCacheStats, ...(spec !== undefined ? { spec: { proposed: spec.proposed, accepted: spec.accepted } } : {}) };
  }

  close(): Promise<void> {
    return this.engines.close();
  }

  private memo(engine: Engine): TurnMemo | undefined {
    if (!engine.prefixCaching) return undefined;
    let m = this.memos.get(engine);
    if (m === undefined) this.memos.set(engine, (m = new TurnMemo()));
    return m;
  }

  /** The prompt's tokens, and the tools plan for a chat. */
  private async prompt(engine: Engine, memo: TurnMemo | undefined, req: ProviderRequest) {
    if (req.input.kind === "chat") {
      const plan = planTools(req.tools ?? [], req.toolChoice);
      const { tokens, text } = await chatPrompt(engine, memo, req.input.messages, { tools: plan.offered });
      return { prompt: tokens, promptText: text, plan };
    }
    const p = req.input.prompt;
    if (typeof p === "string") await checkTokenBound(engine, p, "prompt");
    return { prompt: typeof p === "string" ? engine.tokenize(p) : [...p], promptText: undefined, plan: undefined };
  }

  private async prepare(engine: Engine, memo: TurnMemo | undefined, req: ProviderRequest): Promise<Job> {
    checkLogitBias(engine, req.sampling.logitBias);
    const { prompt, promptText, plan } = await this.prompt(engine, memo, req);
    checkFits(engine, prompt.length, req.maxTokens);
    const grammar = plan?.grammar ?? req.grammar ?? responseGrammar(req.responseFormat);
    const s = req.sampling;
    const params: GenerateParams = {
      maxTokens: req.maxTokens,
      temperature: s.temperature,
      topP: s.topP,
      topK: s.topK,
      minP: s.minP,
      repetitionPenalty: s.repetitionPenalty,
      presencePenalty: s.presencePenalty,
      frequencyPenalty: s.frequencyPenalty,
      logitBias: s.logitBias,
      seed: s.seed,
      stop: req.stop,
      logprobs: req.logprobs,
      ignoreEos: req.extensions?.ignoreEos,
      priority: req.extensions?.priority,
      speculative: req.extensions?.speculative,
      ...(grammar !== undefined ? { grammar } : {}),
    };
    const echo = req.input.kind === "prompt" && req.input.echo ? engine.detokenize(prompt) : "";
    const tools = plan?.offered === undefined ? "none" : plan.grammar !== undefined ? "forced" : "parse";
    return { prompt, promptText, params, tools, echo };
  }

  private usage(model: string, promptTokens: number, r: RequestRecord | undefined, t0: number, firstOutput: number | undefined): Usage {
    return {
      ...emptyUsage(this.name, model),
      inputTokens: promptTokens,
      cachedInputTokens: r?.cachedTokens ?? 0,
      outputTokens: r?.outputTokens ?? 0,
      compute: { ms: r?.computeMs ?? 0, savedMs: r?.savedComputeMs ?? 0 },
      timing: { queuedMs: r?.queueMs ?? 0, firstTokenMs: firstOutput === undefined ? undefined : firstOutput - t0, totalMs: performance.now() - t0 },
    };
  }
}

function entry(l: TokenLogprobInfo): LogprobEntry {
  return { text: l.text, logprob: l.logprob, top: l.top.map((t) => ({ text: t.text, logprob: t.logprob })) };
}

/** `response_format` as a grammar (undefined for plain text). */
function responseGrammar(format: ResponseFormat | undefined): GrammarSpec | undefined {
  switch (format?.type) {
    case undefined:
    case "text":
      return undefined;
    case "json_object":
      return { type: "json_object" };
    case "json_schema":
      return format.schema === undefined ? { type: "json_object" } : { type: "json_schema", schema: format.schema };
  }
}
