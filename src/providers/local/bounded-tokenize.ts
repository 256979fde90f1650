/**
 * Bounds on input before the tokenizer sees it. llama.cpp's tokenizer is synchronous: a 4 MB
 * message took 4.7 s of the event loop, during which no other request (not even /health) was
 * answered, only to be refused as too long. So: refuse by bytes first (a sound bound, from the
 * vocabulary's longest token), and count a big text in pieces, yielding between them.
 */
import type { Engine } from "../../engine/engine.js";
import { InferdError } from "../../util/errors.js";

/** Texts up to this many characters are tokenized in one go (a few ms). */
const CHUNK_CHARS = 64 * 1024;
/** Tokens a cut between pieces may add (SentencePiece's space prefix, a split merge). */
const SLACK_PER_CUT = 4;

function tooLong(ctx: number, atLeast: number | undefined, param: string): InferdError {
  const what = atLeast === undefined ? "the input is longer" : `the input is at least ${atLeast} tokens, more`;
  return new InferdError("context_overflow", `${what} than the model's context window of ${ctx} tokens`, { param });
}

/** Throws a 400 when `bytes` of text could not fit the context whatever its tokens. */
export function boundInput(engine: Engine, bytes: number, param: string): void {
  const ctx = engine.kv.cellsPerSequence;
  if (bytes > ctx * engine.model.maxTokenBytes) throw tooLong(ctx, Math.ceil(bytes / engine.model.maxTokenBytes), param);
}

/**
 * Throws a 400 when `text` cannot fit the context. Small texts are checked by bytes alone (the
 * caller tokenizes them next); a big one is counted piece by piece, giving the event loop back
 * between pieces, and refused as soon as its count passes the context.
 */
export async function checkTokenBound(engine: Engine, text: string, param: string): Promise<void> {
  boundInput(engine, Buffer.byteLength(text, "utf8"), param);
  if (text.length <= CHUNK_CHARS) return;
  const ctx = engine.kv.cellsPerSequence;
  let count = 0;
  let cuts = 0;
  for (let at = 0; at < text.length; ) {
    const end = cutPoint(text, at);
    count += engine.tokenize(text.slice(at, end), { addBos: false, special: true }).length;
    at = end;
    if (count > ctx + SLACK_PER_CUT * cuts) throw tooLong(ctx, count - SLACK_PER_CUT * cuts, param);
    cuts++;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Where the piece starting at `at` ends: before a space where one is near, never inside a surrogate pair. */
function cutPoint(text: string, at: number): number {
  let end = Math.min(text.length, at + CHUNK_CHARS);
  if (end === text.length) return end;
  const space = text.lastIndexOf(" ", end);
  if (space > at + CHUNK_CHARS / 2) end = space;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return end;
}
