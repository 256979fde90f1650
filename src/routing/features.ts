/**
 * Features of a prompt (and, for a cascade's validator, of the small model's answer) as the
 * learned router reads them: hashed lowercase word unigrams and bigrams (the hashing trick: a
 * fixed-size vector, no vocabulary to store), plus a few dense figures (lengths, numbers, the
 * maths answer's checks). Cheap per request: one pass over the text.
 */
import { readMathAnswer, unusedNumbers } from "./answer-checks.js";

/** A sparse vector: feature index -> value. */
export type Features = Map<number, number>;

export type FeatureKind = "prompt" | "math-answer";

export const HASH_BITS = 18;
const HASH_SIZE = 1 << HASH_BITS;
/** Dense features sit after the hashed ones. */
const DENSE = HASH_SIZE;

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & (HASH_SIZE - 1);
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+|\d+|[^\sa-z\d]/g) ?? [];
}

/** Hashed n-grams of `text` under `prefix`, L2-normalized so long prompts do not dominate. */
function addText(f: Features, prefix: string, text: string): void {
  const w = words(text);
  const grams: string[] = [];
  for (let i = 0; i < w.length; i++) {
    // digits are one token class: the numbers of a question are not its topic
    const a = /^\d+$/.test(w[i]!) ? "#" : w[i]!;
    grams.push(`${prefix}1:${a}`);
    if (i + 1 < w.length) grams.push(`${prefix}2:${a} ${/^\d+$/.test(w[i + 1]!) ? "#" : w[i + 1]!}`);
  }
  if (grams.length === 0) return;
  const scale = 1 / Math.sqrt(grams.length);
  for (const g of grams) {
    const k = hash(g);
    f.set(k, (f.get(k) ?? 0) + scale);
  }
}

function dense(f: Features, i: number, v: number): void {
  f.set(DENSE + i, v);
}

/** Features of a prompt alone (a router's). */
export function promptFeatures(prompt: string): Features {
  const f: Features = new Map();
  addText(f, "p", prompt);
  dense(f, 0, Math.log1p(prompt.length) / 8);
  dense(f, 1, Math.min(20, (prompt.match(/\d+(\.\d+)?/g) ?? []).length) / 20);
  dense(f, 2, Math.min(40, prompt.split("\n").length) / 40);
  return f;
}

/** Features of a maths question with the small model's answer (a cascade's validator). */
export function mathAnswerFeatures(prompt: string, answer: string): Features {
  const f = promptFeatures(prompt);
  addText(f, "a", answer);
  const a = readMathAnswer(answer);
  const questionNumbers = new Set((prompt.match(/\d[\d,]*(?:\.\d+)?/g) ?? []).map((x) => Number(x.replaceAll(",", ""))));
  dense(f, 17, a.final !== undefined && !Number.isInteger(a.final) ? 1 : 0);
  dense(f, 18, a.final !== undefined && a.final < 0 ? 1 : 0);
  dense(f, 19, a.final !== undefined && questionNumbers.has(a.final) ? 1 : 0);
  dense(f, 20, a.final === undefined ? 0 : Math.log10(1 + Math.abs(a.final)) / 6);
  dense(f, 21, Math.min(20, answer.split("\n").filter((l) => l.trim() !== "").length) / 20);
  dense(f, 22, Math.min(10, questionNumbers.size) / 10);
  dense(f, 23, Math.log1p(prompt.length) / 8);
  dense(f, 10, a.final === undefined ? 1 : 0);
  dense(f, 11, Math.min(5, a.wrongAnnotations) / 5);
  dense(f, 12, a.annotations > 0 && !a.finalIsLastResult ? 1 : 0);
  dense(f, 13, Math.min(10, a.annotations) / 10);
  dense(f, 14, Math.min(5, unusedNumbers(prompt, a)) / 5);
  dense(f, 15, Math.log1p(answer.length) / 8);
  dense(f, 16, a.annotations === 0 ? 1 : 0);
  return f;
}

export function featuresOf(kind: FeatureKind, prompt: string, answer = ""): Features {
  switch (kind) {
    case "prompt":
      return promptFeatures(prompt);
    case "math-answer":
      return mathAnswerFeatures(prompt, answer);
  }
}
