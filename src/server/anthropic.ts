/**
 * Anthropic Messages API: POST /v1/messages, streaming (message_start, content_block_start,
 * content_block_delta, content_block_stop, message_delta, message_stop) and not.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ChatMessage } from "./chat-template.js";
import { checkFits, generateChoices, type ServedModel } from "./choices.js";
import { chatPrompt } from "./chat-prompt.js";
import { anthropicError, toApiError } from "./errors.js";
import type { MessagesRequest } from "./schemas.js";
import type { RequestScope } from "./request-scope.js";

const text = (c: string | { text: string }[]) => (typeof c === "string" ? c : c.map((p) => p.text).join(""));

function stopReason(finish: string, stopSequence: string | undefined): string {
  if (finish === "length") return "max_tokens";
  return stopSequence !== undefined ? "stop_sequence" : "end_turn";
}

export async function messages(c: Context, served: ServedModel, r: MessagesRequest, scope: RequestScope): Promise<Response> {
  const engine = served.engine;
  const chat: ChatMessage[] = [
    ...(r.system !== undefined ? [{ role: "system", content: text(r.system) }] : []),
    ...r.messages.map((m) => ({ role: m.role, content: text(m.content) })),
  ];
  const { tokens: prompt, text: rendered } = await chatPrompt(served, chat);
  checkFits(engine, prompt.length, r.max_tokens);
  const events = generateChoices(
    served,
    prompt,
    { maxTokens: r.max_tokens, temperature: r.temperature, topP: r.top_p, topK: r.top_k, stop: r.stop_sequences },
    1,
    scope.signal,
    rendered,
  )[Symbol.asyncIterator]();
  const first = await events.next(); // request errors surface before any byte is sent
  const id = `msg_${randomUUID().replaceAll("-", "")}`;
  // Anthropic counts input_tokens as the part not read from the cache; the first delta already
  // knows what was cached, so message_start and message_delta report the same split
  const cached = !first.done && first.value.type === "delta" ? (first.value.cachedTokens ?? 0) : 0;
  const usage = (output: number) => ({ input_tokens: prompt.length - cached, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: cached });

  if (!r.stream) {
    let out = "";
    let tokens = 0;
    let finish = "stop";
    let stopSequence: string | undefined;
    for (let ev = first; !ev.done; ev = await events.next()) {
      const e = ev.value;
      if (e.type === "delta") {
        out += e.text;
        tokens += e.tokens.length;
      } else {
        finish = e.finishReason;
        stopSequence = e.stopSequence;
      }
    }
    if (scope.wasCut()) throw scope.signal.reason;
    return c.json({
      id,
      type: "message",
      role: "assistant",
      model: served.id,
      content: [{ type: "text", text: out }],
      stop_reason: stopReason(finish, stopSequence),
      stop_sequence: stopSequence ?? null,
      usage: usage(tokens),
    });
  }
  const release = scope.hold();
  return streamSSE(c, async (stream) => {
    const send = (event: string, data: object) => stream.writeSSE({ event, data: JSON.stringify({ type: event, ...data }) });
    try {
      await send("message_start", {
        message: { id, type: "message", role: "assistant", model: served.id, content: [], stop_reason: null, stop_sequence: null, usage: usage(0) },
      });
      await send("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
      let tokens = 0;
      for (let ev = first; !ev.done; ev = await events.next()) {
        const e = ev.value;
        if (e.type === "delta") {
          tokens += e.tokens.length;
          if (e.text.length > 0) await send("content_block_delta", { index: 0, delta: { type: "text_delta", text: e.text } });
        } else if (e.finishReason !== "abort") {
          await send("content_block_stop", { index: 0 });
          await send("message_delta", { delta: { stop_reason: stopReason(e.finishReason, e.stopSequence), stop_sequence: e.stopSequence ?? null }, usage: usage(tokens) });
          await send("message_stop", {});
        }
      }
      // cut by shutdown: the client is told, in Anthropic's terms, that the message is incomplete
      if (scope.wasCut()) await send("error", { error: { type: "overloaded_error", message: toApiError(scope.signal.reason).message } });
    } catch (e) {
      await send("error", { error: anthropicError(toApiError(e)).error });
      scope.abort();
    } finally {
      release();
    }
  });
}
