/**
 * `inferd usage` output: the same records as an aligned table (people), CSV (spreadsheets) or
 * JSON (scripts). Records are flat objects whose keys are the report's snake_case field names.
 */
import { assertNever } from "../util/assert-never.js";

export type UsageFormat = "table" | "csv" | "json";

export const USAGE_FORMATS: readonly UsageFormat[] = ["table", "csv", "json"];

type Value = string | number | boolean | null;
export type Flat = Record<string, Value>;

/** Writes `records` (all with the same keys, in order) in `format`; `columns` is used when there are none. */
export function formatRecords(records: Flat[], columns: string[], format: UsageFormat): string {
  switch (format) {
    case "json":
      return JSON.stringify(records, null, 2) + "\n";
    case "csv":
      return [columns.join(","), ...records.map((r) => columns.map((c) => csvCell(r[c] ?? null)).join(","))].map((l) => l + "\r\n").join("");
    case "table":
      return table(records, columns);
    default:
      return assertNever(format);
  }
}

/** RFC 4180: quote a cell holding a comma, quote or line break; null is an empty cell. */
function csvCell(v: Value): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** USD with 6 decimals (sub-cent prices per request are the norm); "-" for unknown. */
function tableCell(column: string, v: Value): string {
  if (v === null) return "-";
  if (typeof v === "number" && column.endsWith("_usd")) return v.toFixed(6);
  return String(v);
}

function table(records: Flat[], columns: string[]): string {
  const header = columns.map((c) => c.toUpperCase());
  const rows = records.map((r) => columns.map((c) => tableCell(c, r[c] ?? null)));
  const numeric = columns.map((c) => records.length > 0 && records.every((r) => typeof r[c] === "number" || r[c] === null));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd() + "\n";
  return [header, ...rows].map(line).join("");
}

/**
 * A TOTAL record over usage records: counts added; a `_usd` column is the sum of its known
 * values, null only when none is known (as per group).
 */
export function totalRecord(records: Flat[], columns: string[], labelColumn: string): Flat {
  const out: Flat = {};
  for (const c of columns) {
    if (c === labelColumn) out[c] = "TOTAL";
    else if (records.some((r) => typeof r[c] === "number") || c.endsWith("_usd")) {
      const known = records.map((r) => r[c]).filter((v): v is number => typeof v === "number");
      out[c] = known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
    } else out[c] = null;
  }
  return out;
}
