/**
 * Checks on an answer's text that a cascade (live, `cascade: { check: NAME }`) and `inferd route
 * eval` share. `gsm8k`: a grade-school maths answer in GSM8K's format ends with `#### N`, its
 * worked arithmetic (`<<48/2=24>>`) holds, and N is the last result it computed; a model that
 * botches its own sums or stops early is wrong far more often than one that does not.
 */
import { evaluate, parseNumber } from "./arithmetic.js";
import type { TextCheck } from "./answer-validators.js";

export type AnswerCheck = "gsm8k" | "final-number";
export const ANSWER_CHECKS: readonly AnswerCheck[] = ["gsm8k", "final-number"];

/** What the gsm8k check and the evaluation's features read from an answer. */
export interface MathAnswer {
  /** The number after the last `####`, if any. */
  final: number | undefined;
  /** `<<expr=value>>` annotations, and how many do not hold (or are not arithmetic). */
  annotations: number;
  wrongAnnotations: number;
  /** The final number equals the last annotation's value (false without either). */
  finalIsLastResult: boolean;
  /** Numbers anywhere in the answer. */
  numbers: Set<number>;
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

export function readMathAnswer(text: string): MathAnswer {
  const finals = [...text.matchAll(/####\s*\$?\s*(-?[\d,]*\.?\d+)/g)];
  const final = finals.length > 0 ? parseNumber(finals.at(-1)![1]!) : undefined;
  let annotations = 0;
  let wrong = 0;
  let last: number | undefined;
  for (const m of text.matchAll(/<<([^<>=]+)=([^<>]+)>>/g)) {
    annotations++;
    const got = evaluate(m[1]!);
    const said = parseNumber(m[2]!);
    if (got === undefined || said === undefined || !close(got, said)) wrong++;
    last = said;
  }
  const numbers = new Set<number>();
  for (const m of text.matchAll(/\d[\d,]*(?:\.\d+)?/g)) {
    const n = parseNumber(m[0]);
    if (n !== undefined) numbers.add(n);
  }
  return { final, annotations, wrongAnnotations: wrong, finalIsLastResult: final !== undefined && last !== undefined && close(final, last), numbers };
}

/** Numbers of `question` that the answer never mentions (a step it skipped, often). */
export function unusedNumbers(question: string, answer: MathAnswer): number {
  let unused = 0;
  const seen = new Set<number>();
  for (const m of question.matchAll(/\d[\d,]*(?:\.\d+)?/g)) {
    const n = parseNumber(m[0]);
    if (n === undefined || seen.has(n)) continue;
    seen.add(n);
    if (!answer.numbers.has(n)) unused++;
  }
  return unused;
}

/** True, or why the answer fails `kind`. */
export function runCheck(kind: AnswerCheck, text: string): true | string {
  const a = readMathAnswer(text);
  switch (kind) {
    case "final-number":
      return a.final !== undefined ? true : "no final answer (#### N)";
    case "gsm8k":
      if (a.final === undefined) return "no final answer (#### N)";
      if (a.wrongAnnotations > 0) return `${a.wrongAnnotations} of its ${a.annotations} calculations do not hold`;
      if (a.annotations > 0 && !a.finalIsLastResult) return "the final answer is not its last result";
      return true;
  }
}

export function isAnswerCheck(s: string): s is AnswerCheck {
  return (ANSWER_CHECKS as readonly string[]).includes(s);
}

/** The named check as a cascade's TextCheck. */
export function textCheck(kind: AnswerCheck): TextCheck {
  return (text) => runCheck(kind, text);
}
