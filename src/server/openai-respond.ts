/**
 * Writes a chat or text completion, whole or streamed exactly as OpenAI streams: the same id
 * and created on every chunk, the role in each choice's first delta, finish_reason on its last
 * chunk, with `include_usage` a final chunk with empty choices and the usage, then
 * `data: [DONE]`. An error after the stream started is sent as `data: {"error": ...}`, never a
 * silent close.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { GenerateParams } from "../index.js";
import type { TokenLogprobInfo } from "../output/output-processor.js";
import { generateChoices, type ChoiceEvent, type ServedModel } from "./choices.js";
import type { RequestScope } from "./request-scope.js";
import { openAiError, toApiError } from "./errors.js";
import { chatLogprobs, textLogprobs, usage } from "./openai-format.js";
import type { ChatCompletionRequest, CompletionRequest } from "./schemas.js";
import { ToolCallExtractor, type ToolCall } from "./tool-calls.js";

export interface Completion {
  kind: "chat" | "text";
  prompt: number[];
  /** The rendered chat the prompt was tokenized from (chat only: its turns are remembered). */
  promptText?: string;
  params: GenerateParams;
  request: ChatCompletionRequest | CompletionRequest;
  /** Parse tool calls out of the output (chat with tools): "forced" when a grammar makes it all calls. */
  tools: "none" | "parse" | "forced";
}

/** What one event of a choice adds to the response. */
interface Piece {
  content: string;
  calls: ToolCall[];
  logprobs: TokenLogprobInfo[];
}

/** One choice's output so far: text, tool calls and logprobs, from its generation events. */
class ChoiceOutput {
  content = "";
  readonly calls: ToolCall[] = [];
  readonly logprobs: TokenLogprobInfo[] = [];
  tokens = 0;
  /** Prompt tokens the prefix cache held for this choice. */
  cached = 0;
  finish = "stop";
  private readonly tools: ToolCallExtractor | undefined;

  constructor(tools: Completion["tools"]) {
    this.tools = tools === "none" ? undefined : new ToolCallExtractor({ forced: tools === "forced" });
  }

  add(e: ChoiceEvent): Piece {
    let piece: Piece;
    if (e.type === "delta") {
      this.tokens += e.tokens.length;
      const x = this.tools?.push(e.text) ?? { content: e.text, calls: [] };
      piece = { ...x, logprobs: e.logprobs ?? [] };
    } else {
      const x = this.tools?.flush() ?? { content: "", calls: [] };
      piece = { ...x, logprobs: [] };
      this.finish = e.finishReason;
      this.cached = e.stats.cachedTokens;
    }
    this.content += piece.content;
    this.calls.push(...piece.calls);
    this.logprobs.push(...piece.logprobs);
    if (e.type === "done" && this.calls.length > 0 && e.finishReason === "stop") this.finish = "tool_calls";
    return piece;
  }
}

export async function respond(c: Context, served: ServedModel, job: Completion, scope: RequestScope): Promise<Response> {
  const { kind, prompt, params: p, request: r } = job;
  const n = r.n ?? 1;
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const events = generateChoices(served, prompt, p, n, scope.signal, job.promptText)[Symbol.asyncIterator]();
  const echo = kind === "text" && (r as CompletionRequest).echo ? served.engine.detokenize(prompt) : "";
  const outs = Array.from({ length: n }, () => new ChoiceOutput(job.tools));
  const wantLogprobs = p.logprobs !== undefined;
  // the first event surfaces request errors (overloaded, bad grammar) before any byte is sent
  const first = await events.next();

  if (!r.stream) {
    for (let ev = first; !ev.done; ev = await events.next()) outs[ev.value.index]!.add(ev.value);
    // cut by shutdown: the answer is incomplete, and saying so beats a truncated 200
    if (scope.wasCut()) throw scope.signal.reason;
    const choices = outs.map((o, index) =>
      kind === "chat"
        ? {
            index,
            message: {
              role: "assistant",
              content: o.calls.length > 0 && o.content === "" ? null : o.content,
              refusal: null,
              ...(o.calls.length > 0 ? { tool_calls: o.calls } : {}),
            },
            logprobs: wantLogprobs ? chatLogprobs(o.logprobs) : null,
            finish_reason: o.finish,
          }
        : { index, text: echo + o.content, logprobs: wantLogprobs ? textLogprobs(o.logprobs, echo.length) : null, finish_reason: o.finish },
    );
    return c.json({
      id,
      object: kind === "chat" ? "chat.completion" : "text_completion",
      created,
      model: served.id,
      system_fingerprint: null,
      choices,
      usage: totalUsage(prompt.length, outs),
    });
  }

  const includeUsage = r.stream_options?.include_usage === true;
  const release = scope.hold();
  return streamSSE(c, async (stream) => {
    const base = { id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model: served.id, system_fingerprint: null };
    const send = (choice: object) => stream.writeSSE({ data: JSON.stringify({ ...base, choices: [choice], ...(includeUsage ? { usage: null } : {}) }) });
    const finishChunk = (index: number, reason: string) =>
      send(kind === "chat" ? { index, delta: {}, logprobs: null, finish_reason: reason } : { index, text: "", logprobs: null, finish_reason: reason });
    const started = new Set<number>();
    try {
      for (let ev = first; !ev.done; ev = await events.next()) {
        const e = ev.value;
        const out = outs[e.index]!;
        if (!started.has(e.index)) {
          started.add(e.index);
          if (kind === "chat") await send({ index: e.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
          else if (echo) await send({ index: e.index, text: echo, logprobs: null, finish_reason: null });
        }
        const piece = out.add(e);
        if (e.type === "done" && e.finishReason === "abort") {
          // a client that left gets nothing more; one cut by shutdown learns each choice ended
          if (scope.wasCut()) await finishChunk(e.index, "abort");
          continue;
        }
        if (piece.content.length > 0 || piece.logprobs.length > 0) {
          const lp = !wantLogprobs ? null : kind === "chat" ? chatLogprobs(piece.logprobs) : textLogprobs(piece.logprobs);
          await send(kind === "chat" ? { index: e.index, delta: { content: piece.content }, logprobs: lp, finish_reason: null } : { index: e.index, text: piece.content, logprobs: lp, finish_reason: null });
        }
        for (const call of piece.calls) {
          const k = out.calls.indexOf(call);
          await send({ index: e.index, delta: { tool_calls: [{ index: k, ...call }] }, logprobs: null, finish_reason: null });
        }
        if (e.type === "done") await finishChunk(e.index, out.finish);
      }
      if (scope.signal.aborted && !scope.wasCut()) return;
      if (includeUsage) {
        await stream.writeSSE({ data: JSON.stringify({ ...base, choices: [], usage: totalUsage(prompt.length, outs) }) });
      }
      if (scope.wasCut()) await stream.writeSSE({ data: JSON.stringify(openAiError(toApiError(scope.signal.reason))) });
      await stream.writeSSE({ data: "[DONE]" });
    } catch (e) {
      // never a silent 200 close: the client learns what went wrong
      await stream.writeSSE({ data: JSON.stringify(openAiError(toApiError(e))) });
      await stream.writeSSE({ data: "[DONE]" });
      scope.abort();
    } finally {
      release();
    }
  });
}

/** One usage for all choices: their output tokens, and the prompt tokens cached for every one of them. */
function totalUsage(promptTokens: number, outs: readonly ChoiceOutput[]) {
  return usage(promptTokens, outs.reduce((s, o) => s + o.tokens, 0), Math.min(...outs.map((o) => o.cached)));
}
