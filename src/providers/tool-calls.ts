/** Assembling tool calls from a provider's events (the protocols and the cascade's judge read them whole). */
import { randomUUID } from "node:crypto";
import type { ProviderEvent, ToolCall } from "./provider.js";

/** Adds a tool-call piece to the calls assembled so far (the first piece of a call names it). */
export function addToolCall(calls: ToolCall[], e: Extract<ProviderEvent, { type: "tool_call" }>, idPrefix: "call_" | "toolu_"): ToolCall {
  const call = (calls[e.index] ??= { id: e.id ?? `${idPrefix}${randomUUID().replaceAll("-", "").slice(0, 24)}`, type: "function", function: { name: "", arguments: "" } });
  if (e.name !== undefined) call.function.name = e.name;
  call.function.arguments += e.arguments;
  return call;
}
