/**
 * Token counts for pricing the evaluation's questions, with the tokenizers that can be had on
 * this machine: GPT-4's own (cl100k_base, from js-tiktoken's bundled ranks) for the large
 * model; for Mixtral, Llama 2's 32k SentencePiece tokenizer (Mixtral's is a 32k SentencePiece
 * vocabulary of the same kind; counts differ by a few percent) read from
 * ../shared/models/llama-2-tiny-random.gguf, else cl100k as well. Which one counted is reported.
 */
import { existsSync } from "node:fs";
import { getEncoding } from "js-tiktoken";
import { sharedModelsDir } from "../../util/paths.js";
import { join } from "node:path";

export interface Counter {
  name: string;
  count(text: string): number;
}

let cl100k: Counter | undefined;

export function gpt4Counter(): Counter {
  if (cl100k === undefined) {
    const enc = getEncoding("cl100k_base");
    cl100k = { name: "cl100k_base (GPT-4's)", count: (t) => enc.encode(t).length };
  }
  return cl100k;
}

/** Mixtral's counts; `close` frees the tokenizer's model. */
export async function mixtralCounter(): Promise<Counter & { close(): Promise<void> }> {
  const dir = sharedModelsDir();
  const file = dir === undefined ? undefined : join(dir, "llama-2-tiny-random.gguf");
  if (file === undefined || !existsSync(file)) {
    const c = gpt4Counter();
    return { name: `${c.name}, as no Llama-2 tokenizer was found`, count: c.count, close: async () => {} };
  }
  const { Engine } = await import("../../engine/engine.js");
  const engine = await Engine.load({ model: file, contextSize: 64, maxSequences: 1, prefixCache: false, kvTierBytes: 0, threads: 1 });
  return {
    name: "Llama 2's SentencePiece (32k, like Mixtral's)",
    count: (t) => engine.tokenize(t, { addBos: false, special: false }).length,
    close: () => engine.dispose(),
  };
}
