/** Reading a provider's events in the protocol writers. */
import { randomUUID } from "node:crypto";
import type { Opened } from "../gateway/gateway.js";
import type { ProviderEvent, ToolCall } from "../providers/provider.js";

/** The events of an opened response, the first one included. */
export async function* eventsOf(opened: Opened): AsyncGenerator<ProviderEvent> {
  yield opened.first;
  for (let ev = await opened.rest.next(); !ev.done; ev = await opened.rest.next()) yield ev.value;
}

/** Adds a tool-call piece to the calls assembled so far (the first piece of a call names it). */
export function addToolCall(calls: ToolCall[], e: Extract<ProviderEvent, { type: "tool_call" }>, idPrefix: "call_" | "toolu_"): ToolCall {
  const call = (calls[e.index] ??= { id: e.id ?? `${idPrefix}${randomUUID().replaceAll("-", "").slice(0, 24)}`, type: "function", function: { name: "", arguments: "" } });
  if (e.name !== undefined) call.function.name = e.name;
  call.function.arguments += e.arguments;
  return call;
}
