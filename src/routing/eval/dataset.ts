/**
 * RouteLLM's released per-question outcomes, as `inferd route eval` reads them: GSM8K (prompt,
 * whether each model was right, both answers) and MMLU (subject, prompt, whether each was
 * right). The small and large models are the CSV's own column names.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parse } from "csv-parse/sync";
import { InferdError } from "../../util/errors.js";

export type DatasetKind = "gsm8k" | "mmlu";

export interface Question {
  prompt: string;
  smallRight: boolean;
  largeRight: boolean;
  /** The models' answers (GSM8K); MMLU has none. */
  smallAnswer?: string;
  largeAnswer?: string;
}

export interface Dataset {
  kind: DatasetKind;
  file: string;
  small: string;
  large: string;
  questions: Question[];
}

export const SMALL_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1";
export const LARGE_MODEL = "gpt-4-1106-preview";

function bool(v: string | undefined, where: string): boolean {
  if (v === "True" || v === "true" || v === "1") return true;
  if (v === "False" || v === "false" || v === "0") return false;
  throw new InferdError("invalid_argument", `${where}: expected True or False, got ${JSON.stringify(v)}`, { param: "dataset" });
}

export function loadDataset(path: string): Dataset {
  const file = basename(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new InferdError("invalid_argument", `dataset not found: ${path}`, { param: "dataset" });
  }
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, relax_column_count: false }) as Record<string, string>[];
  } catch (e) {
    throw new InferdError("invalid_argument", `${file}: not a CSV file: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, { param: "dataset" });
  }
  if (records.length === 0) throw new InferdError("invalid_argument", `${file}: no rows`, { param: "dataset" });
  const columns = Object.keys(records[0]!);
  for (const c of ["prompt", SMALL_MODEL, LARGE_MODEL]) {
    if (!columns.includes(c)) throw new InferdError("invalid_argument", `${file}: no column "${c}" (has ${columns.join(", ")})`, { param: "dataset" });
  }
  const kind: DatasetKind = columns.includes(`${SMALL_MODEL}_response`) ? "gsm8k" : "mmlu";
  const questions = records.map((r, i) => {
    const where = `${file} row ${i + 2}`;
    return {
      prompt: r.prompt!,
      smallRight: bool(r[SMALL_MODEL], `${where} ${SMALL_MODEL}`),
      largeRight: bool(r[LARGE_MODEL], `${where} ${LARGE_MODEL}`),
      ...(kind === "gsm8k" ? { smallAnswer: r[`${SMALL_MODEL}_response`] ?? "", largeAnswer: r[`${LARGE_MODEL}_response`] ?? "" } : {}),
    };
  });
  return { kind, file, small: SMALL_MODEL, large: LARGE_MODEL, questions };
}

/** A fixed split of a dataset in two halves by a hash of each prompt (reproducible, order-free). */
export function splitHalves(d: Dataset): [Dataset, Dataset] {
  const a: Question[] = [];
  const b: Question[] = [];
  for (const q of d.questions) (fnv1a(q.prompt) % 2 === 0 ? a : b).push(q);
  return [
    { ...d, file: `${d.file}#even`, questions: a },
    { ...d, file: `${d.file}#odd`, questions: b },
  ];
}

/** 32-bit FNV-1a of a string's UTF-16 units (the feature hash too). */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
