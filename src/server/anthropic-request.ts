/**
 * Anthropic's Messages request as the chat the model's template renders: content blocks to
 * messages (tool_use to an assistant's tool_calls, tool_result to a tool message), tools and
 * tool_choice to OpenAI's shapes, which the template and the tool grammar already speak.
 */
import type { ChatMessage, ProviderRequest, ToolChoice, ToolDefinition } from "../providers/provider.js";
import type { RequestScope } from "./request-scope.js";
import type { AnthropicBlock, CountTokensRequest, MessagesRequest } from "./schemas.js";

const text = (c: string | { text: string }[] | undefined) => (c === undefined ? "" : typeof c === "string" ? c : c.map((p) => p.text).join(""));

export function anthropicChat(r: CountTokensRequest): ChatMessage[] {
  const chat: ChatMessage[] = r.system !== undefined ? [{ role: "system", content: text(r.system) }] : [];
  for (const m of r.messages) {
    if (typeof m.content === "string") {
      chat.push({ role: m.role, content: m.content });
      continue;
    }
    const blocks = m.content as AnthropicBlock[];
    // tool results answer the assistant's last calls: they come first, as tool messages
    for (const b of blocks) {
      if (b.type === "tool_result") chat.push({ role: "tool", tool_call_id: b.tool_use_id, content: (b.is_error ? "Error: " : "") + text(b.content) });
    }
    const words = blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
    const calls = blocks.flatMap((b) =>
      b.type === "tool_use" ? [{ id: b.id, type: "function" as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }] : [],
    );
    if (words.length > 0 || calls.length > 0 || !blocks.some((b) => b.type === "tool_result")) {
      chat.push({ role: m.role, content: words, ...(calls.length > 0 ? { tool_calls: calls } : {}) });
    }
  }
  return chat;
}

export function anthropicTools(r: CountTokensRequest): { tools: ToolDefinition[]; choice: ToolChoice | undefined } {
  const tools: ToolDefinition[] = (r.tools ?? []).map((t) => ({
    type: "function",
    function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.input_schema as Record<string, unknown> },
  }));
  const c = r.tool_choice;
  let choice: ToolChoice | undefined;
  switch (c?.type) {
    case undefined:
      choice = undefined;
      break;
    case "auto":
      choice = "auto";
      break;
    case "any":
      choice = "required";
      break;
    case "none":
      choice = "none";
      break;
    case "tool":
      choice = { type: "function", function: { name: c.name } };
      break;
  }
  return { tools, choice };
}

/** A Messages request (or a count_tokens one) as the neutral request. */
export function anthropicRequest(r: CountTokensRequest & Partial<Pick<MessagesRequest, "max_tokens" | "temperature" | "top_p" | "top_k" | "stop_sequences">>, scope: RequestScope): Omit<ProviderRequest, "model"> {
  const { tools, choice } = anthropicTools(r);
  return {
    id: scope.id,
    input: { kind: "chat", messages: anthropicChat(r) },
    sampling: { temperature: r.temperature, topP: r.top_p, topK: r.top_k },
    ...(r.max_tokens !== undefined ? { maxTokens: r.max_tokens } : {}),
    ...(r.stop_sequences !== undefined ? { stop: r.stop_sequences } : {}),
    n: 1,
    stream: r.stream === true,
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice !== undefined ? { toolChoice: choice } : {}),
    signal: scope.signal,
  };
}
