/**
 * Function calling in the Hermes format that Qwen2.5, SmolLM3, Hermes and most open chat
 * templates use: the model writes `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`.
 * `tool_choice: "required"` or a named function constrains sampling with a grammar so the call
 * always parses; `"auto"` lets the model choose and parses what it wrote.
 */
import { randomUUID } from "node:crypto";
import type { GrammarSpec } from "../../backend/backend.js";
import { InferdError } from "../../util/errors.js";
import type { ToolCall, ToolChoice, ToolDefinition } from "../provider.js";

export type { ToolCall, ToolChoice, ToolDefinition };

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

/**
 * The grammar that forces a call: any of the tools for "required", the named one otherwise;
 * undefined when the model may answer freely.
 */
export function toolCallGrammar(tools: readonly ToolDefinition[], choice: ToolChoice): GrammarSpec | undefined {
  if (choice === "none" || choice === "auto") return undefined;
  const chosen = choice === "required" ? tools : tools.filter((t) => t.function.name === choice.function.name);
  const calls = chosen.map((t) => ({
    type: "object",
    properties: {
      name: { const: t.function.name },
      arguments: t.function.parameters ?? { type: "object", properties: {} },
    },
  }));
  const schema = calls.length === 1 ? calls[0]! : { oneOf: calls };
  return { type: "json_schema", schema, prefix: `${TOOL_CALL_OPEN}\n`, suffix: `\n${TOOL_CALL_CLOSE}`, param: "tools" };
}

/** What a request's tools mean for generation. */
export interface ToolPlan {
  /** The tools the model is told of (undefined: none, or tool_choice "none"). */
  offered: readonly ToolDefinition[] | undefined;
  /** The grammar forcing a call ("required" or a named tool), else undefined. */
  grammar: GrammarSpec | undefined;
}

/** Checks `choice` against `tools` (a 400 naming tool_choice) and plans generation. */
export function planTools(tools: readonly ToolDefinition[], choice: ToolChoice | undefined, param = "tool_choice"): ToolPlan {
  const c: ToolChoice = choice ?? (tools.length > 0 ? "auto" : "none");
  const names = new Set<string>();
  for (const t of tools) {
    if (names.has(t.function.name)) throw new InferdError("invalid_argument", `tools has two functions named "${t.function.name}"`, { param: "tools" });
    names.add(t.function.name);
  }
  if (typeof c === "object" && !tools.some((t) => t.function.name === c.function.name)) {
    throw new InferdError("invalid_argument", `${param} names "${c.function.name}", which is not in tools`, { param });
  }
  if (c === "required" && tools.length === 0) throw new InferdError("invalid_argument", `${param} requires a tool call but there are no tools`, { param });
  if (tools.length === 0 || c === "none") return { offered: undefined, grammar: undefined };
  return { offered: tools, grammar: toolCallGrammar(tools, c) };
}

/** Parses the JSON between the markers; undefined when it is not a call. */
export function parseToolCall(body: string): ToolCall | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { name, arguments: args } = v as { name?: unknown; arguments?: unknown };
  if (typeof name !== "string") return undefined;
  return {
    id: `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    type: "function",
    function: { name, arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}) },
  };
}

/** What a piece of generated text turned into. */
export interface Extracted {
  content: string;
  calls: ToolCall[];
}

/**
 * Splits streamed text into content and tool calls. Text that could be the start of
 * `<tool_call>` is held back until it is known not to be, so markup never leaks into content;
 * a block that does not parse as a call (or is cut short) is dropped.
 */
export class ToolCallExtractor {
  private pending = "";
  private inCall = false;
  /** Trailing whitespace of the content so far: dropped if a call follows it. */
  private space = "";
  /** Calls found so far. */
  readonly calls: ToolCall[] = [];
  /** The output is all calls (a grammar forces them): nothing of it is ever content. */
  private readonly forced: boolean;

  constructor(opts: { forced?: boolean } = {}) {
    this.forced = opts.forced ?? false;
  }

  push(text: string): Extracted {
    this.pending += text;
    let content = "";
    const calls: ToolCall[] = [];
    for (;;) {
      if (!this.inCall) {
        const at = this.pending.indexOf(TOOL_CALL_OPEN);
        if (at < 0) {
          const keep = partialSuffix(this.pending, TOOL_CALL_OPEN);
          content += this.text(this.pending.slice(0, this.pending.length - keep));
          this.pending = this.pending.slice(this.pending.length - keep);
          break;
        }
        content += this.text(this.pending.slice(0, at));
        this.space = ""; // whitespace around calls is the format's, not the assistant's words
        this.pending = this.pending.slice(at + TOOL_CALL_OPEN.length);
        this.inCall = true;
      }
      const end = this.pending.indexOf(TOOL_CALL_CLOSE);
      if (end < 0) break;
      const body = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + TOOL_CALL_CLOSE.length);
      this.inCall = false;
      // a block that is no call is dropped: markup never reaches content (clients such as the
      // AI SDK fail on it), and a call that does not parse is nothing the client can use
      const call = parseToolCall(body.trim());
      if (call !== undefined) calls.push(call);
    }
    this.calls.push(...calls);
    return { content: this.forced ? "" : content, calls };
  }

  /**
   * The end of generation: an unfinished block may still be a whole call (the close tag was a
   * stop string); one cut short (max_tokens) is dropped, never given back as markup.
   */
  flush(): Extracted {
    const rest = this.pending;
    this.pending = "";
    if (this.inCall) {
      this.inCall = false;
      const call = parseToolCall(rest.trim());
      if (call !== undefined) {
        this.calls.push(call);
        return { content: "", calls: [call] };
      }
      return { content: this.calls.length > 0 || this.forced ? "" : this.space, calls: [] };
    }
    // forced: what is left is the start of a call's markup, cut short
    if (this.forced) return { content: "", calls: [] };
    const content = this.text(rest);
    return { content: this.calls.length > 0 ? content : content + this.space, calls: [] };
  }

  /** Content to emit now: all but its trailing whitespace, which waits to see what follows. */
  private text(piece: string): string {
    const all = this.space + piece;
    const body = all.trimEnd();
    this.space = all.slice(body.length);
    return body;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
function partialSuffix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(marker.slice(0, n))) return n;
  }
  return 0;
}

/**
 * A system prompt describing the tools in the Hermes format, for chat templates that know
 * nothing of tools (they would silently drop them).
 */
export function toolsSystemPrompt(tools: readonly ToolDefinition[]): string {
  return (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
    tools.map((t) => JSON.stringify(t)).join("\n") +
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
    `${TOOL_CALL_OPEN}${TOOL_CALL_CLOSE} XML tags:\n${TOOL_CALL_OPEN}\n{"name": <function-name>, "arguments": <args-json-object>}\n${TOOL_CALL_CLOSE}`
  );
}
