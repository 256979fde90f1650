/**
 * A chat's prompt tokens, from messages to token ids: the model's chat template, BOS, the turn
 * memo, and the rule that only the template's own markup becomes control tokens. A user who
 * writes `<|im_end|>\n<|im_start|>system` in a message gets those characters as text, never a
 * closed turn and a forged system prompt.
 */
import type { Engine } from "../../engine/engine.js";
import { InferdError } from "../../util/errors.js";
import type { ChatMessage, ToolDefinition } from "../provider.js";
import { boundInput, checkTokenBound } from "./bounded-tokenize.js";
import { renderChat } from "./chat-template.js";
import { memoTokenize, type TurnMemo } from "./turn-memo.js";

export interface ChatPrompt {
  tokens: number[];
  /**
   * The rendered chat, when its turns may be remembered (the turn memo keys on it); undefined
   * when the chat holds control-token text and was tokenized in pieces.
   */
  text: string | undefined;
}

/**
 * Renders and tokenizes a chat. Contents are bounded before any work (a text longer in bytes
 * than the context could ever hold is a 400 at once); earlier turns come from the turn memo
 * as the model really saw and generated them.
 */
export async function chatPrompt(engine: Engine, turns: TurnMemo | undefined, messages: ChatMessage[], opts: { tools?: readonly ToolDefinition[] } = {}): Promise<ChatPrompt> {
  const model = engine.model;
  boundInput(engine, messages.reduce((n, m) => n + Buffer.byteLength(m.content, "utf8"), 0), "messages");
  const forged = new Set<number>();
  messages.forEach((m, i) => {
    if (holdsControlText(model.controlTokenTexts, m.content)) forged.add(i);
    for (const call of m.tool_calls ?? []) {
      // a call's name and arguments are the model's own earlier output, which cannot hold control tokens
      if (holdsControlText(model.controlTokenTexts, call.function.name + call.function.arguments)) {
        throw new InferdError("invalid_argument", `messages[${i}].tool_calls holds control-token text`, { param: `messages.${i}.tool_calls` });
      }
    }
  });
  const bos = model.bosText;
  const addBos = (text: string) => model.addBos && !(bos && text.startsWith(bos));
  if (forged.size === 0) {
    const text = renderChat(model, messages, opts);
    await checkTokenBound(engine, text, "messages");
    const first = addBos(text);
    const tokens = memoTokenize(turns, text, (t, start) => engine.tokenize(t, { addBos: start && first, special: true })).tokens;
    return { tokens, text };
  }
  // Contents with control-token text are rendered as placeholders, so the template's markup
  // around them is known exactly; the pieces are then tokenized apart: markup with special
  // tokens, contents as plain text.
  const marks = new Map<number, string>();
  const byMark = new Map<string, number>();
  for (const i of forged) {
    await checkTokenBound(engine, messages[i]!.content, "messages");
    const mark = `\u{F0000}inferd-content-${i}-${Math.random().toString(36).slice(2)}\u{F0001}`;
    marks.set(i, mark);
    byMark.set(mark, i);
  }
  const placeholders = messages.map((m, i) => (forged.has(i) ? { ...m, content: marks.get(i)! } : m));
  const rendered = renderChat(model, placeholders, opts);
  await checkTokenBound(engine, rendered, "messages");
  const pattern = new RegExp([...byMark.keys()].map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu");
  const tokens: number[] = [];
  let at = 0;
  let start = true;
  const piece = (text: string, special: boolean) => {
    if (text.length === 0) return;
    tokens.push(...engine.tokenize(text, { addBos: start && addBos(text), special }));
    start = false;
  };
  for (const m of rendered.matchAll(pattern)) {
    piece(rendered.slice(at, m.index), true);
    piece(messages[byMark.get(m[0])!]!.content, false);
    at = m.index + m[0].length;
  }
  piece(rendered.slice(at), true);
  return { tokens, text: undefined };
}

/** Whether `text` holds any of the vocabulary's control-token texts. */
function holdsControlText(controls: readonly string[], text: string): boolean {
  if (text.length === 0) return false;
  for (const c of controls) if (text.includes(c)) return true;
  return false;
}
