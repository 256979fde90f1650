import { setMaxListeners } from "node:events";
import type { Engine, GenerateEvent, GenerateStats } from "../../engine/engine.js";
import type { GenerateParams } from "../../engine/params.js";
import type { TokenLogprobInfo } from "../../output/output-processor.js";
import { AsyncQueue } from "../../util/async-queue.js";
import { InferdError } from "../../util/errors.js";
import type { TurnMemo } from "./turn-memo.js";

/**
 * One request's figures, all its choices together: the prompt counted once (the choices share
 * it), output tokens summed. What metrics (and later the ledger) read, one per request.
 */
export interface RequestRecord {
  promptTokens: number;
  /** Prompt tokens the prefix cache held for every choice. */
  cachedTokens: number;
  outputTokens: number;
  /** "stop", "length" or "abort": the first choice's (all of a request's choices end together). */
  finishReason: string;
  /** Arrival until its first choice was scheduled. */
  queueMs: number;
  /** Arrival until the first token of any choice; undefined when none came. */
  timeToFirstTokenMs: number | undefined;
  /** Mean time per output token after each choice's first. */
  timePerOutputTokenMs: number;
  totalMs: number;
  /** The choices' compute share and what their cached prompts saved, ms. */
  computeMs: number;
  savedComputeMs: number;
}

/** One event of one of the `n` choices of a request. */
export type ChoiceEvent =
  | { index: number; type: "delta"; text: string; tokens: number[]; logprobs?: TokenLogprobInfo[]; cachedTokens?: number }
  | { index: number; type: "done"; finishReason: "stop" | "length" | "abort"; stopSequence?: string; stats: GenerateStats };

/**
 * Checks that the prompt plus `maxTokens` fits the context (OpenAI answers 400 with both
 * numbers rather than silently cutting the output short).
 */
export function checkFits(engine: Engine, promptTokens: number, maxTokens: number | undefined, param = "max_tokens"): void {
  const ctx = engine.kv.cellsPerSequence;
  if (promptTokens > ctx) {
    throw new InferdError("context_overflow", `the prompt is ${promptTokens} tokens but the model's context window is ${ctx} tokens`, { param: "messages" });
  }
  if (maxTokens !== undefined && promptTokens + maxTokens > ctx) {
    throw new InferdError(
      "context_overflow",
      `the prompt (${promptTokens} tokens) plus ${param} (${maxTokens}) is ${promptTokens + maxTokens} tokens, more than the model's context window of ${ctx} tokens`,
      { param },
    );
  }
}

/** OpenAI answers 400 for a `logit_bias` key that is no token of the model: so do we. */
export function checkLogitBias(engine: Engine, bias: Record<string, number> | null | undefined): void {
  const vocab = engine.model.vocabSize;
  for (const key of Object.keys(bias ?? {})) {
    if (vocab > 0 && Number(key) >= vocab) {
      throw new InferdError("invalid_argument", `invalid logit_bias: token ${key} is outside the vocabulary (${vocab} tokens)`, { param: "logit_bias" });
    }
  }
}

/**
 * Runs `n` generations of one prompt at once (seeds seed, seed+1, ...) and merges their events
 * in arrival order. The request is taken whole or refused whole ("overloaded" for all `n`
 * before any starts), and its choices end together: aborting `signal` (client gone) or one
 * choice failing ends all of them. With `promptText` (the rendered chat) each choice that ends
 * cleanly is remembered in the model's turn memo. Accounting is one record per request.
 */
export function generateChoices(
  engine: Engine,
  turns: TurnMemo | undefined,
  prompt: readonly number[],
  params: GenerateParams,
  n: number,
  signal: AbortSignal,
  promptText: string | undefined,
  record: (r: RequestRecord) => void,
): AsyncIterable<ChoiceEvent> {
  engine.checkCapacity(n);
  const queue = new AsyncQueue<ChoiceEvent>();
  const all = new AbortController();
  // each choice's generation listens on it
  setMaxListeners(n + 10, all.signal);
  const onAbort = () => all.abort();
  if (signal.aborted) all.abort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const stats: (GenerateStats | undefined)[] = new Array(n);
  const reasons: string[] = new Array(n);
  let open = n;
  const ended = () => {
    if (--open > 0) return;
    signal.removeEventListener("abort", onAbort);
    // accounting first: it must survive a client that went away
    const done = stats.filter((x) => x !== undefined);
    if (done.length > 0) record(requestRecord(done, reasons.find((r) => r !== undefined)!));
  };
  // only chat turns with the memo on keep their text and tokens
  const remember = promptText !== undefined && turns !== undefined;
  for (let index = 0; index < n; index++) {
    const p = params.seed !== undefined ? { ...params, seed: (params.seed + index) % 2 ** 32 } : params;
    void (async () => {
      let text = "";
      const tokens: number[] = [];
      try {
        for await (const ev of engine.generate(prompt, p, { signal: all.signal })) {
          if (ev.type === "delta") {
            if (remember) {
              text += ev.text;
              tokens.push(...ev.tokens);
            }
          } else {
            stats[index] = ev.stats;
            reasons[index] = ev.finishReason;
            if (remember) rememberTurn(turns!, promptText! + text, prompt, tokens, ev);
          }
          queue.push({ index, ...ev });
        }
        ended();
        if (open === 0) queue.end();
      } catch (e) {
        all.abort();
        ended();
        queue.fail(e);
      }
    })();
  }
  return queue;
}

function requestRecord(choices: readonly GenerateStats[], finishReason: string): RequestRecord {
  const first = choices.map((c) => (c.outputTokens > 0 ? c.timeToFirstTokenMs : Infinity));
  const ttft = Math.min(...first);
  const decodeTokens = choices.reduce((s, c) => s + Math.max(0, c.outputTokens - 1), 0);
  const decodeMs = choices.reduce((s, c) => s + c.timePerOutputTokenMs * Math.max(0, c.outputTokens - 1), 0);
  return {
    promptTokens: choices[0]!.promptTokens,
    cachedTokens: Math.min(...choices.map((c) => c.cachedTokens)),
    outputTokens: choices.reduce((s, c) => s + c.outputTokens, 0),
    finishReason,
    queueMs: Math.min(...choices.map((c) => c.queueMs)),
    timeToFirstTokenMs: Number.isFinite(ttft) ? ttft : undefined,
    timePerOutputTokenMs: decodeTokens > 0 ? decodeMs / decodeTokens : 0,
    totalMs: Math.max(...choices.map((c) => c.totalMs)),
    computeMs: choices.reduce((s, c) => s + c.computeMs, 0),
    savedComputeMs: choices.reduce((s, c) => s + c.savedComputeMs, 0),
  };
}

/**
 * Remembers a chat turn whose text is exactly what the client gets back: ended at
 * end-of-generation (whose token, the last, is left out: its text is the template's, not the
 * answer's) or at the length limit; not at a stop string (the text is cut inside a token). Text
 * with U+FFFD (bytes that were not valid UTF-8) is remembered too: the client sends back the
 * same text, and the memo maps it to the bytes the model really produced.
 */
function rememberTurn(memo: TurnMemo, text: string, prompt: readonly number[], tokens: number[], ev: Extract<GenerateEvent, { type: "done" }>): void {
  if (ev.finishReason === "stop" && ev.stopSequence === undefined && tokens.length > 0) memo.remember(text, [...prompt, ...tokens.slice(0, -1)]);
  else if (ev.finishReason === "length") memo.remember(text, [...prompt, ...tokens]);
}
