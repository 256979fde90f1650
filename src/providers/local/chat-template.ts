import { Template } from "@huggingface/jinja";
import type { ModelInfo } from "../../backend/backend.js";
import { InferdError } from "../../util/errors.js";
import type { ChatMessage, ToolDefinition } from "../provider.js";
import { toolsSystemPrompt } from "./tool-calls.js";

const cache = new Map<string, Template>();

/**
 * Renders messages with the model's own chat template (Jinja, from its GGUF), the way the
 * model was trained to see them. A 400 names the model when it has no template.
 */
export function renderChat(
  model: ModelInfo,
  messages: ChatMessage[],
  opts: { tools?: readonly ToolDefinition[]; addGenerationPrompt?: boolean } = {},
): string {
  const source = model.chatTemplate;
  if (source === undefined) {
    throw new InferdError("invalid_argument", `model "${model.name}" has no chat template; use /v1/completions with a plain prompt`, { param: "messages" });
  }
  let tpl = cache.get(source);
  if (tpl === undefined) {
    tpl = new Template(source);
    cache.set(source, tpl);
  }
  const tools = opts.tools && opts.tools.length > 0 ? opts.tools : undefined;
  if (tools !== undefined && !/\btools\b/.test(source)) messages = withToolsInSystem(messages, tools);
  try {
    return tpl.render({
      // templates written for transformers expect a call's arguments as an object, not a string
      messages: messages.map((m) => (m.tool_calls ? { ...m, tool_calls: m.tool_calls.map(argumentsAsObject) } : m)),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: model.bosText ?? "",
      eos_token: model.eosText ?? "",
      ...(tools !== undefined ? { tools } : {}),
    });
  } catch (e) {
    throw new InferdError("invalid_argument", `the chat template cannot render these messages: ${e instanceof Error ? e.message : String(e)}`, { param: "messages" });
  }
}

/** Puts the tool descriptions in the system message (made first when there is none). */
function withToolsInSystem(messages: ChatMessage[], tools: readonly ToolDefinition[]): ChatMessage[] {
  const prompt = toolsSystemPrompt(tools);
  const first = messages[0];
  if (first?.role === "system") return [{ ...first, content: `${first.content}\n\n${prompt}` }, ...messages.slice(1)];
  return [{ role: "system", content: prompt }, ...messages];
}

function argumentsAsObject(call: NonNullable<ChatMessage["tool_calls"]>[number]) {
  let args: unknown = call.function.arguments;
  try {
    args = JSON.parse(call.function.arguments);
  } catch {
    // not JSON: the template gets the string as the client sent it
  }
  return { ...call, function: { ...call.function, arguments: args } };
}
