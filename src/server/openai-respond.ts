/**
 * Writes a chat or text completion from a provider's events, whole or streamed exactly as
 * OpenAI streams: the same id and created on every chunk, the role in each choice's first
 * delta, tool calls as indexed deltas, finish_reason on its last chunk, with `include_usage` a
 * final chunk with empty choices and the usage, then `data: [DONE]`. An error after the stream
 * started is sent as `data: {"error": ...}` then `[DONE]`, never a silent close; a stream cut
 * by shutdown gets each open choice's finish ("abort") first.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Accounted, Priced } from "../gateway/accountant.js";
import { BUDGET_WARNING_HEADER } from "../keys/limits.js";
import { describeDecision, ROUTE_HEADER, type RouteDecision } from "../routing/policy.js";
import type { LogprobEntry, ProviderEvent, ToolCall, Usage } from "../providers/provider.js";
import { openAiError, toApiError } from "./errors.js";
import { addToolCall } from "../providers/tool-calls.js";
import { eventsOf } from "./events.js";
import { chatLogprobs, openAiUsage, textLogprobs } from "./openai-format.js";
import type { RequestScope } from "./request-scope.js";

export interface Completion {
  kind: "chat" | "text";
  n: number;
  stream: boolean;
  includeUsage: boolean;
  wantLogprobs: boolean;
}

/** One choice's output so far. */
class ChoiceOutput {
  content = "";
  readonly calls: ToolCall[] = [];
  readonly logprobs: LogprobEntry[] = [];
  /** Where the first token with a logprob starts in the text (after an echoed prompt). */
  logprobsOffset: number | undefined;
  finish: string | undefined;

  add(e: ProviderEvent): void {
    switch (e.type) {
      case "text":
        if (e.logprobs) {
          this.logprobsOffset ??= this.content.length;
          this.logprobs.push(...e.logprobs);
        }
        this.content += e.text;
        return;
      case "tool_call":
        addToolCall(this.calls, e, "call_");
        return;
      case "finish":
        this.finish = e.reason;
        return;
      case "start":
      case "usage":
        return;
    }
  }
}

/**
 * inferd's response headers: the model that answered (a fallback's, if it came to that), where
 * a routed name sent the request and why (`x-inferd-route`), a soft
 * budget's warning and, once known (whole answers), the cost and the cached prompt tokens.
 */
export function costHeaders(c: Context, model: string, cost: Priced | undefined, cachedTokens: number | undefined, warning?: string, decision?: RouteDecision): void {
  c.header("x-inferd-model", model);
  if (decision !== undefined) c.header(ROUTE_HEADER, describeDecision(decision));
  if (warning !== undefined) c.header(BUDGET_WARNING_HEADER, warning);
  if (cost !== undefined) c.header("x-inferd-cost", cost.usd === null ? "unknown" : String(cost.usd));
  if (cachedTokens !== undefined) c.header("x-inferd-cached-tokens", String(cachedTokens));
}

export async function respond(c: Context, opened: Accounted, job: Completion, scope: RequestScope): Promise<Response> {
  const { kind, n } = job;
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const model = opened.route.name;
  const outs = Array.from({ length: n }, () => new ChoiceOutput());

  if (!job.stream) {
    let usage: Usage | undefined;
    for await (const e of eventsOf(opened)) {
      if (e.type === "usage") usage = e.usage;
      else if (e.type !== "start") outs[e.choice]!.add(e);
    }
    // cut by shutdown: the answer is incomplete, and saying so beats a truncated 200
    if (scope.wasCut()) throw scope.signal.reason;
    costHeaders(c, model, opened.cost(), usage?.cachedInputTokens, opened.warning, opened.decision);
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
            logprobs: job.wantLogprobs ? chatLogprobs(o.logprobs) : null,
            finish_reason: o.finish ?? "stop",
          }
        : { index, text: o.content, logprobs: job.wantLogprobs ? textLogprobs(o.logprobs, o.logprobsOffset ?? 0) : null, finish_reason: o.finish ?? "stop" },
    );
    return c.json({
      id,
      object: kind === "chat" ? "chat.completion" : "text_completion",
      created,
      model,
      system_fingerprint: null,
      choices,
      ...(usage !== undefined ? { usage: openAiUsage(usage, opened.cost()) } : {}),
    });
  }

  costHeaders(c, model, undefined, undefined, opened.warning, opened.decision);
  const release = scope.hold();
  return streamSSE(c, async (stream) => {
    const base = { id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model, system_fingerprint: null };
    const send = (choice: object) => stream.writeSSE({ data: JSON.stringify({ ...base, choices: [choice], ...(job.includeUsage ? { usage: null } : {}) }) });
    const finishChunk = (index: number, reason: string) =>
      send(kind === "chat" ? { index, delta: {}, logprobs: null, finish_reason: reason } : { index, text: "", logprobs: null, finish_reason: reason });
    const started = new Set<number>();
    const offsets = new Array<number>(n).fill(0);
    try {
      for await (const e of eventsOf(opened)) {
        if (e.type === "start") continue;
        if (e.type === "usage") {
          if (scope.signal.aborted && !scope.wasCut()) return; // the client left: nothing more to say
          if (job.includeUsage) await stream.writeSSE({ data: JSON.stringify({ ...base, choices: [], usage: openAiUsage(e.usage, opened.cost()) }) });
          continue;
        }
        const out = outs[e.choice]!;
        out.add(e);
        if (!started.has(e.choice)) {
          started.add(e.choice);
          if (kind === "chat") await send({ index: e.choice, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
        }
        switch (e.type) {
          case "text": {
            const lp = !job.wantLogprobs || e.logprobs === undefined ? null : kind === "chat" ? chatLogprobs(e.logprobs) : textLogprobs(e.logprobs, offsets[e.choice]);
            offsets[e.choice]! += e.text.length;
            await send(kind === "chat" ? { index: e.choice, delta: { content: e.text }, logprobs: lp, finish_reason: null } : { index: e.choice, text: e.text, logprobs: lp, finish_reason: null });
            break;
          }
          case "tool_call": {
            const call = out.calls[e.index]!;
            const first = e.id !== undefined || e.name !== undefined;
            const fn = first ? { name: call.function.name, arguments: e.arguments } : { arguments: e.arguments };
            await send({ index: e.choice, delta: { tool_calls: [{ index: e.index, ...(first ? { id: call.id, type: "function" } : {}), function: fn }] }, logprobs: null, finish_reason: null });
            break;
          }
          case "finish":
            // a client that left gets nothing more; one cut by shutdown learns each choice ended
            if (e.reason !== "abort" || scope.wasCut()) await finishChunk(e.choice, e.reason);
            break;
        }
      }
      if (scope.signal.aborted && !scope.wasCut()) return;
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
