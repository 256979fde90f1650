import type { Engine, GenerateEvent, GenerateParams, GenerateStats } from "../index.js";
import type { TokenLogprobInfo } from "../output/output-processor.js";
import { AsyncQueue } from "../util/async-queue.js";
import { HttpError } from "./errors.js";
import type { TurnMemo } from "./turn-memo.js";

/** A model the server serves: its public id, its engine, and where its accounting goes. */
export interface ServedModel {
  id: string;
  engine: Engine;
  /** Called once per finished generation (aborted ones too). */
  record(finishReason: string, stats: GenerateStats): void;
  /** Chat turns' real tokens, so the next turn's prompt hits the prefix cache (absent with the cache off). */
  turns?: TurnMemo;
}

/** One event of one of the `n` choices of a request. */
export type ChoiceEvent =
  | { index: number; type: "delta"; text: string; tokens: number[]; logprobs?: TokenLogprobInfo[] }
  | { index: number; type: "done"; finishReason: "stop" | "length" | "abort"; stopSequence?: string; stats: GenerateStats };

/**
 * Checks that the prompt plus `maxTokens` fits the context (OpenAI answers 400 with both
 * numbers rather than silently cutting the output short).
 */
export function checkFits(engine: Engine, promptTokens: number, maxTokens: number | undefined, param = "max_tokens"): void {
  const ctx = engine.kv.cellsPerSequence;
  if (promptTokens > ctx) {
    throw new HttpError(400, `the prompt is ${promptTokens} tokens but the model's context window is ${ctx} tokens`, "invalid_request_error", "messages", "context_length_exceeded");
  }
  if (maxTokens !== undefined && promptTokens + maxTokens > ctx) {
    throw new HttpError(
      400,
      `the prompt (${promptTokens} tokens) plus ${param} (${maxTokens}) is ${promptTokens + maxTokens} tokens, more than the model's context window of ${ctx} tokens`,
      "invalid_request_error",
      param,
      "context_length_exceeded",
    );
  }
}

/**
 * Runs `n` generations of one prompt at once (seeds seed, seed+1, ...) and merges their events
 * in arrival order. Aborting `signal` (client gone) cancels all of them. With `promptText` (the
 * rendered chat) each choice that ends cleanly is remembered in the served model's turn memo.
 */
export function generateChoices(
  served: ServedModel,
  prompt: readonly number[],
  params: GenerateParams,
  n: number,
  signal: AbortSignal,
  promptText?: string,
): AsyncIterable<ChoiceEvent> {
  const engine = served.engine;
  const queue = new AsyncQueue<ChoiceEvent>();
  let open = n;
  for (let index = 0; index < n; index++) {
    const p = params.seed !== undefined ? { ...params, seed: (params.seed + index) % 2 ** 32 } : params;
    void (async () => {
      // only chat turns with the memo on keep their text and tokens
      const remember = promptText !== undefined && served.turns !== undefined;
      let text = "";
      const tokens: number[] = [];
      try {
        for await (const ev of engine.generate(prompt, p, { signal })) {
          if (ev.type === "delta") {
            if (remember) {
              text += ev.text;
              tokens.push(...ev.tokens);
            }
          } else {
            // accounting first: it must survive a client that went away
            served.record(ev.finishReason, ev.stats);
            if (remember) rememberTurn(served.turns!, promptText! + text, prompt, tokens, ev);
          }
          queue.push({ index, ...(ev as GenerateEvent) } as ChoiceEvent);
        }
        if (--open === 0) queue.end();
      } catch (e) {
        queue.fail(e);
      }
    })();
  }
  return queue;
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
