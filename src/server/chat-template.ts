import { Template } from "@huggingface/jinja";
import type { ModelInfo } from "../backend/backend.js";
import { HttpError } from "./errors.js";

/** A chat message after normalization (content parts joined into text). */
export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

const cache = new Map<string, Template>();

/**
 * Renders messages with the model's own chat template (Jinja, from its GGUF), the way the
 * model was trained to see them. A 400 names the model when it has no template.
 */
export function renderChat(
  model: ModelInfo,
  messages: ChatMessage[],
  opts: { tools?: unknown[]; addGenerationPrompt?: boolean } = {},
): string {
  const source = model.chatTemplate;
  if (source === undefined) {
    throw new HttpError(400, `model "${model.name}" has no chat template; use /v1/completions with a plain prompt`, "invalid_request_error", "messages");
  }
  let tpl = cache.get(source);
  if (tpl === undefined) {
    tpl = new Template(source);
    cache.set(source, tpl);
  }
  try {
    return tpl.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: model.bosText ?? "",
      eos_token: model.eosText ?? "",
      ...(opts.tools && opts.tools.length > 0 ? { tools: opts.tools } : {}),
    });
  } catch (e) {
    throw new HttpError(400, `the chat template cannot render these messages: ${e instanceof Error ? e.message : String(e)}`, "invalid_request_error", "messages");
  }
}
