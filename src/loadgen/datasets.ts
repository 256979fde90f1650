import { InferdError } from "../util/errors.js";
import { randInt, shuffle, type Rng } from "./rng.js";

/** One request of a benchmark: the prompt text and how many tokens to ask for. */
export interface BenchRequest {
  prompt: string;
  /** Approximate prompt length in tokens (one per word); used only if the server reports no usage. */
  promptLen: number;
  /** `max_tokens` sent (with `ignore_eos`, the exact number of tokens generated). */
  outputLen: number;
  /** prefix-repetition only: which shared prefix this prompt starts with. */
  prefixIndex?: number;
}

/**
 * Common short English words. The load generator does not know the server's tokenizer, so
 * prompts are made of words that BPE and SentencePiece vocabularies (GPT-2, Llama, Qwen, SmolLM)
 * all hold as one token with their leading space: N words come out at about N tokens everywhere.
 * The server's `usage.prompt_tokens` is what gets reported, so the approximation only affects
 * the load shape, never the figures.
 */
export const WORDS: readonly string[] = (
  "the of and to in is it that for was on are as with his they at be this have from or one had by " +
  "word but not what all were we when your can said there use an each which she do how their if " +
  "will up other about out many then them these so some her would make like him into time has look " +
  "two more write go see number no way could people my than first water been call who oil its now " +
  "find long down day did get come made may part over new sound take only little work know place " +
  "year live me back give most very after thing our just name good man think say great where help"
).split(" ");

/** `n` random words joined by spaces: about `n` tokens. */
export function randomWords(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[randInt(rng, WORDS.length)]!);
  return out.join(" ");
}

/**
 * Draws `count` distinct word strings of `len` words. Collisions only happen for tiny lengths,
 * but prefix-repetition's meaning (N distinct prefixes, unique suffixes) must hold exactly, so a
 * repeat is redrawn, and an impossible request (more strings than the word space holds) is an error.
 */
function distinctWords(rng: Rng, count: number, len: number, what: string): string[] {
  if (Math.pow(WORDS.length, len) < count) {
    throw new InferdError("invalid_argument", `cannot make ${count} distinct ${what} of ${len} words (${WORDS.length}^${len} possible)`);
  }
  const seen = new Set<string>();
  while (seen.size < count) seen.add(randomWords(rng, len));
  return [...seen];
}

/** vLLM's `random` dataset with a fixed length: `numPrompts` prompts of `inputLen` random words. */
export function randomDataset(rng: Rng, o: { numPrompts: number; inputLen: number; outputLen: number }): BenchRequest[] {
  const out: BenchRequest[] = [];
  for (let i = 0; i < o.numPrompts; i++) out.push({ prompt: randomWords(rng, o.inputLen), promptLen: o.inputLen, outputLen: o.outputLen });
  return out;
}

/** Options of {@link prefixRepetitionDataset}. */
export interface PrefixRepetitionOptions {
  numPrompts: number;
  numPrefixes: number;
  prefixLen: number;
  suffixLen: number;
  outputLen: number;
}

/**
 * vLLM's `prefix-repetition` dataset: `numPrefixes` shared prefixes of `prefixLen` words; each
 * request is one prefix plus a suffix of `suffixLen` words unique across all requests. Prefixes
 * are assigned round-robin (each used numPrompts/numPrefixes times, the remainder spread one
 * each over the first prefixes) and the requests are shuffled, so a server's prefix cache sees
 * repeats interleaved with other prefixes rather than in runs it could trivially keep hot.
 */
export function prefixRepetitionDataset(rng: Rng, o: PrefixRepetitionOptions): BenchRequest[] {
  if (o.numPrefixes > o.numPrompts) {
    throw new InferdError("invalid_argument", `--num-prefixes (${o.numPrefixes}) must not exceed --num-prompts (${o.numPrompts})`);
  }
  const prefixes = distinctWords(rng, o.numPrefixes, o.prefixLen, "prefixes");
  const suffixes = distinctWords(rng, o.numPrompts, o.suffixLen, "suffixes");
  const out: BenchRequest[] = [];
  for (let i = 0; i < o.numPrompts; i++) {
    const p = i % o.numPrefixes;
    // a space joins them, so the prefix's tokens are the same in every prompt (words keep their leading space)
    const prompt = o.prefixLen === 0 ? suffixes[i]! : o.suffixLen === 0 ? prefixes[p]! : `${prefixes[p]} ${suffixes[i]}`;
    out.push({ prompt, promptLen: o.prefixLen + o.suffixLen, outputLen: o.outputLen, prefixIndex: p });
  }
  return shuffle(rng, out);
}
