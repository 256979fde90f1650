/**
 * Anthropic Messages API: POST /v1/messages, streaming (message_start, content_block_start,
 * content_block_delta, content_block_stop, message_delta, message_stop) and not, with tools
 * (tool_use blocks out, tool_result blocks in).
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { anthropicChat, anthropicTools } from "./anthropic-request.js";
import { chatPrompt } from "./chat-prompt.js";
import { checkFits, generateChoices, type ServedModel } from "./choices.js";
import { anthropicError, toApiError } from "./errors.js";
import type { RequestScope } from "./request-scope.js";
import type { CountTokensRequest, MessagesRequest } from "./schemas.js";
import { planTools, ToolCallExtractor, type ToolCall } from "./tool-calls.js";

function stopReason(finish: string, stopSequence: string | undefined, calls: number): string {
  if (finish === "length") return "max_tokens";
  if (calls > 0) return "tool_use";
  return stopSequence !== undefined ? "stop_sequence" : "end_turn";
}

/** A call as Anthropic's tool_use block (its input an object, its id Anthropic's prefix). */
function toolUse(call: ToolCall) {
  let input: unknown;
  try {
    input = JSON.parse(call.function.arguments);
  } catch {
    input = {};
  }
  return { type: "tool_use", id: `toolu_${call.id.replace(/^call_/, "")}`, name: call.function.name, input };
}

export async function messages(c: Context, served: ServedModel, r: MessagesRequest, scope: RequestScope): Promise<Response> {
  const engine = served.engine;
  const { tools, choice } = anthropicTools(r);
  const plan = planTools(tools, choice);
  const { tokens: prompt, text: rendered } = await chatPrompt(served, anthropicChat(r), { tools: plan.offered });
  checkFits(engine, prompt.length, r.max_tokens);
  const params = { maxTokens: r.max_tokens, temperature: r.temperature, topP: r.top_p, topK: r.top_k, stop: r.stop_sequences, ...(plan.grammar ? { grammar: plan.grammar } : {}) };
  const events = generateChoices(served, prompt, params, 1, scope.signal, rendered)[Symbol.asyncIterator]();
  const first = await events.next(); // request errors surface before any byte is sent
  const id = `msg_${randomUUID().replaceAll("-", "")}`;
  // Anthropic counts input_tokens as the part not read from the cache; the first delta already
  // knows what was cached, so message_start and message_delta report the same split
  const cached = !first.done && first.value.type === "delta" ? (first.value.cachedTokens ?? 0) : 0;
  const usage = (output: number) => ({ input_tokens: prompt.length - cached, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: cached });
  const extractor = plan.offered !== undefined ? new ToolCallExtractor({ forced: plan.grammar !== undefined }) : undefined;
  const split = (t: string, end: boolean) => (extractor === undefined ? { content: t, calls: [] } : end ? extractor.flush() : extractor.push(t));

  if (!r.stream) {
    let out = "";
    const calls: ToolCall[] = [];
    let tokens = 0;
    let finish = "stop";
    let stopSequence: string | undefined;
    for (let ev = first; !ev.done; ev = await events.next()) {
      const e = ev.value;
      const piece = split(e.type === "delta" ? e.text : "", e.type === "done");
      out += piece.content;
      calls.push(...piece.calls);
      if (e.type === "delta") tokens += e.tokens.length;
      else {
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
      content: [...(out.length > 0 || calls.length === 0 ? [{ type: "text", text: out }] : []), ...calls.map(toolUse)],
      stop_reason: stopReason(finish, stopSequence, calls.length),
      stop_sequence: stopSequence ?? null,
      usage: usage(tokens),
    });
  }
  const release = scope.hold();
  return streamSSE(c, async (stream) => {
    const send = (event: string, data: object) => stream.writeSSE({ event, data: JSON.stringify({ type: event, ...data }) });
    // content blocks in order: text opens on its first piece (at once without tools, as before)
    let blocks = 0;
    let textOpen = false;
    let calls = 0;
    const openText = async () => {
      if (textOpen) return;
      textOpen = true;
      await send("content_block_start", { index: blocks, content_block: { type: "text", text: "" } });
    };
    const closeText = async () => {
      if (!textOpen) return;
      textOpen = false;
      await send("content_block_stop", { index: blocks++ });
    };
    try {
      await send("message_start", {
        message: { id, type: "message", role: "assistant", model: served.id, content: [], stop_reason: null, stop_sequence: null, usage: usage(0) },
      });
      if (extractor === undefined) await openText();
      let tokens = 0;
      for (let ev = first; !ev.done; ev = await events.next()) {
        const e = ev.value;
        if (e.type === "done" && e.finishReason === "abort") continue;
        if (e.type === "delta") tokens += e.tokens.length;
        const piece = split(e.type === "delta" ? e.text : "", e.type === "done");
        if (piece.content.length > 0) {
          await openText();
          await send("content_block_delta", { index: blocks, delta: { type: "text_delta", text: piece.content } });
        }
        for (const call of piece.calls) {
          await closeText();
          const block = toolUse(call);
          await send("content_block_start", { index: blocks, content_block: { ...block, input: {} } });
          await send("content_block_delta", { index: blocks, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } });
          await send("content_block_stop", { index: blocks++ });
          calls++;
        }
        if (e.type === "done") {
          if (blocks === 0) await openText(); // a message has at least one block
          await closeText();
          await send("message_delta", { delta: { stop_reason: stopReason(e.finishReason, e.stopSequence, calls), stop_sequence: e.stopSequence ?? null }, usage: usage(tokens) });
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

/** POST /v1/messages/count_tokens: the prompt's tokens as the model would see them. */
export async function countTokens(c: Context, served: ServedModel, r: CountTokensRequest): Promise<Response> {
  const { tools, choice } = anthropicTools(r);
  const plan = planTools(tools, choice);
  const { tokens } = await chatPrompt(served, anthropicChat(r), { tools: plan.offered });
  return c.json({ input_tokens: tokens.length });
}
