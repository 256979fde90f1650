/**
 * The neutral request as an Anthropic Messages body: system messages to `system`, tool results
 * to user `tool_result` blocks, an assistant's calls to `tool_use` blocks, consecutive turns of
 * one role merged (Anthropic alternates strictly), tools to `input_schema`, tool_choice to
 * auto/any/tool/none. What Anthropic cannot do is refused here, naming the field.
 */
import { InferdError } from "../../util/errors.js";
import type { ChatMessage, ProviderRequest } from "../provider.js";

type Block = { type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: unknown } | { type: "tool_result"; tool_use_id: string; content: string };

/** Messages API's default when a client gives no max_tokens (Anthropic requires one). */
export const DEFAULT_MAX_TOKENS = 4096;

/** The prompt part of a Messages body (what count_tokens takes too): model, system, messages, tools. */
export function anthropicPrompt(req: ProviderRequest): Record<string, unknown> {
  if (req.input.kind !== "chat") refuse("prompt", "a raw prompt (/v1/completions)");
  const messages = req.input.kind === "chat" ? req.input.messages : [];
  const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
  return {
    model: req.model,
    messages: turns(messages.filter((m) => m.role !== "system")),
    ...(system.length > 0 ? { system } : {}),
    ...(req.tools !== undefined && req.tools.length > 0
      ? { tools: req.tools.map((t) => ({ name: t.function.name, ...(t.function.description !== undefined ? { description: t.function.description } : {}), input_schema: t.function.parameters ?? { type: "object", properties: {} } })) }
      : {}),
    ...(req.toolChoice !== undefined ? { tool_choice: toolChoice(req.toolChoice) } : {}),
  };
}

/** A whole streamed Messages body. */
export function anthropicBody(req: ProviderRequest, defaultMaxTokens = DEFAULT_MAX_TOKENS): Record<string, unknown> {
  if (req.n !== 1) refuse("n", "n > 1");
  if (req.logprobs !== undefined) refuse("logprobs", "logprobs");
  if (req.responseFormat !== undefined && req.responseFormat.type !== "text") refuse("response_format", "response_format");
  if (req.sampling.logitBias !== undefined) refuse("logit_bias", "logit_bias");
  const s = req.sampling;
  return {
    ...anthropicPrompt(req),
    max_tokens: req.maxTokens ?? defaultMaxTokens,
    stream: true,
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    ...(s.topP !== undefined ? { top_p: s.topP } : {}),
    ...(s.topK !== undefined ? { top_k: s.topK } : {}),
    ...(req.stop !== undefined ? { stop_sequences: req.stop } : {}),
  };
}

function refuse(param: string, what: string): never {
  throw new InferdError("invalid_argument", `${what} is not supported by Anthropic models`, { param });
}

function toolChoice(c: NonNullable<ProviderRequest["toolChoice"]>): unknown {
  if (typeof c === "object") return { type: "tool", name: c.function.name };
  switch (c) {
    case "auto":
      return { type: "auto" };
    case "required":
      return { type: "any" };
    case "none":
      return { type: "none" };
  }
}

/** Chat messages as alternating user/assistant turns of content blocks. */
function turns(messages: readonly ChatMessage[]): { role: "user" | "assistant"; content: Block[] }[] {
  const out: { role: "user" | "assistant"; content: Block[] }[] = [];
  for (const m of messages) {
    const role = m.role === "assistant" ? "assistant" : "user";
    const blocks: Block[] = [];
    if (m.role === "tool") blocks.push({ type: "tool_result", tool_use_id: m.tool_call_id ?? "", content: m.content });
    else if (m.content.length > 0) blocks.push({ type: "text", text: m.content });
    for (const call of m.tool_calls ?? []) blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
    const last = out.at(-1);
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  }
  // Anthropic refuses an empty content list
  for (const t of out) if (t.content.length === 0) t.content.push({ type: "text", text: "" });
  return out;
}

function parseArguments(args: string): unknown {
  try {
    const v = JSON.parse(args || "{}");
    return typeof v === "object" && v !== null ? v : {};
  } catch {
    return {};
  }
}
