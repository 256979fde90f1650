/**
 * Anthropic Messages API: POST /v1/messages, streaming (message_start, content_block_start,
 * content_block_delta, content_block_stop, message_delta, message_stop) and not, with tools
 * (tool_use blocks out, tool_result blocks in), over any provider's events.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { FinishReason, ToolCall, Usage } from "../providers/provider.js";
import { anthropicRequest } from "./anthropic-request.js";
import type { Api } from "./api.js";
import { anthropicError, toApiError } from "./errors.js";
import { addToolCall } from "../providers/tool-calls.js";
import { eventsOf } from "./events.js";
import { costHeaders } from "./openai-respond.js";
import type { RequestScope } from "./request-scope.js";
import type { CountTokensRequest, MessagesRequest } from "./schemas.js";

function stopReason(finish: FinishReason | undefined, stopSequence: string | undefined): string {
  switch (finish) {
    case "length":
      return "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "content_filter":
      return "refusal";
    case undefined:
    case "abort":
    case "stop":
      return stopSequence !== undefined ? "stop_sequence" : "end_turn";
  }
}

/** Anthropic's usage: input_tokens EXCLUDES what was read from or written to the cache. */
function anthropicUsage(u: { inputTokens: number; cachedInputTokens: number; cacheWriteTokens?: number; outputTokens?: number }) {
  const write = u.cacheWriteTokens ?? 0;
  return { input_tokens: u.inputTokens - u.cachedInputTokens - write, output_tokens: u.outputTokens ?? 0, cache_creation_input_tokens: write, cache_read_input_tokens: u.cachedInputTokens };
}

/** A call as Anthropic's tool_use block (its input an object, its id Anthropic's prefix). */
function toolUse(call: ToolCall) {
  let input: unknown;
  try {
    input = JSON.parse(call.function.arguments || "{}");
  } catch {
    input = {};
  }
  return { type: "tool_use", id: call.id.startsWith("toolu_") ? call.id : `toolu_${call.id.replace(/^call_/, "")}`, name: call.function.name, input };
}

export async function messages(c: Context, api: Api, r: MessagesRequest, scope: RequestScope): Promise<Response> {
  const opened = await api.open(r.model, anthropicRequest(r, scope), scope);
  costHeaders(c, opened.route.name, undefined, undefined, opened.warning, opened.decision);
  const id = `msg_${randomUUID().replaceAll("-", "")}`;
  const model = opened.route.name;

  if (!r.stream) {
    let text = "";
    const calls: ToolCall[] = [];
    let finish: FinishReason | undefined;
    let stopSequence: string | undefined;
    let usage: Usage | undefined;
    for await (const e of eventsOf(opened)) {
      switch (e.type) {
        case "text":
          text += e.text;
          break;
        case "tool_call":
          addToolCall(calls, e, "toolu_");
          break;
        case "finish":
          finish = e.reason;
          stopSequence = e.stopSequence;
          break;
        case "usage":
          usage = e.usage;
          break;
        case "start":
          break;
      }
    }
    if (scope.wasCut()) throw scope.signal.reason;
    costHeaders(c, model, opened.cost(), usage?.cachedInputTokens, opened.warning, opened.decision);
    return c.json({
      id,
      type: "message",
      role: "assistant",
      model,
      content: [...(text.length > 0 || calls.length === 0 ? [{ type: "text", text }] : []), ...calls.map(toolUse)],
      stop_reason: stopReason(finish, stopSequence),
      stop_sequence: stopSequence ?? null,
      usage: anthropicUsage(usage ?? { inputTokens: 0, cachedInputTokens: 0 }),
    });
  }
  const release = scope.hold();
  return streamSSE(c, async (stream) => {
    const send = (event: string, data: object) => stream.writeSSE({ event, data: JSON.stringify({ type: event, ...data }) });
    // content blocks in order: a text block opens on its first text, a tool_use block on its call's first piece
    let blocks = 0;
    let open: "text" | "tool" | undefined;
    let toolIndex = -1;
    const close = async () => {
      if (open === undefined) return;
      open = undefined;
      await send("content_block_stop", { index: blocks++ });
    };
    let finish: FinishReason | undefined;
    let stopSequence: string | undefined;
    try {
      // what the prompt cost, when the provider knows it already (else the final usage says it)
      const start = opened.first.type === "start" ? opened.first : { inputTokens: 0, cachedInputTokens: 0 };
      await send("message_start", {
        message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: anthropicUsage(start) },
      });
      for await (const e of eventsOf(opened)) {
        switch (e.type) {
          case "start":
            break;
          case "text":
            if (e.text.length === 0) break;
            if (open !== "text") {
              await close();
              open = "text";
              await send("content_block_start", { index: blocks, content_block: { type: "text", text: "" } });
            }
            await send("content_block_delta", { index: blocks, delta: { type: "text_delta", text: e.text } });
            break;
          case "tool_call":
            if (open !== "tool" || e.index !== toolIndex) {
              await close();
              open = "tool";
              toolIndex = e.index;
              const block = toolUse({ id: e.id ?? `toolu_${randomUUID().replaceAll("-", "").slice(0, 24)}`, type: "function", function: { name: e.name ?? "", arguments: "{}" } });
              await send("content_block_start", { index: blocks, content_block: { ...block, input: {} } });
            }
            if (e.arguments.length > 0) await send("content_block_delta", { index: blocks, delta: { type: "input_json_delta", partial_json: e.arguments } });
            break;
          case "finish":
            finish = e.reason;
            stopSequence = e.stopSequence;
            break;
          case "usage":
            if (finish === "abort") break; // cut short: no stop to report (an error event follows on shutdown)
            if (blocks === 0 && open === undefined) {
              open = "text"; // a message has at least one block
              await send("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
            }
            await close();
            await send("message_delta", { delta: { stop_reason: stopReason(finish, stopSequence), stop_sequence: stopSequence ?? null }, usage: anthropicUsage(e.usage) });
            await send("message_stop", {});
            break;
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
export async function countTokens(c: Context, api: Api, r: CountTokensRequest, scope: RequestScope): Promise<Response> {
  return c.json({ input_tokens: await api.gateway.countTokens(r.model, anthropicRequest(r, scope)) });
}
