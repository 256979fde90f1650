/**
 * The price table: `prices.json` beside this module's source, read from the package root at
 * run time so the compiled code in dist/ finds the same file (tsc does not copy it). Each row
 * is one hosted model of one provider family, with the provider's pricing page and the date of
 * its prices. Lookup goes exact id (or alias), then the id without a date suffix
 * (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`), then the longest known id that is a
 * prefix of it at a `-` boundary (`gemini-2.5-pro-preview-06-05` -> `gemini-2.5-pro`), which is a
 * guess and is reported as one.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { InferdError } from "../util/errors.js";
import { packageRoot } from "../util/paths.js";
import { rateFields, ratesFromSnake, tierFromSnake, tierSchema, usdPerMillion, type Rates, type Tier } from "./rates.js";

/** Who sells the model: the family of a row (an open model is priced per host). */
export const PROVIDER_FAMILIES = ["openai", "anthropic", "google", "deepseek", "groq", "together", "fireworks"] as const;
export type ProviderFamily = (typeof PROVIDER_FAMILIES)[number];

/** One model's published price. */
export interface PriceRow {
  family: ProviderFamily;
  /** The provider's model id (lookups ignore case). */
  model: string;
  /** Other ids billed the same (dated snapshots, `-latest` names). */
  aliases: string[];
  rates: Rates;
  /** Long-context tiers, lowest threshold first. */
  tiers: Tier[];
  /** The provider's pricing page. */
  source: string;
  /** When these prices were published or last checked (YYYY-MM or YYYY-MM-DD). */
  date: string;
  note?: string;
}

/** How a model id found its row: only "prefix" is a guess. */
export type MatchKind = "exact" | "alias" | "dated" | "prefix";

export interface PriceTable {
  rows: readonly PriceRow[];
  /** Every id and alias, lower-cased, to its row. */
  byId: ReadonlyMap<string, PriceRow>;
}

const rowSchema = z.strictObject({
  family: z.enum(PROVIDER_FAMILIES),
  model: z.string().min(1),
  aliases: z.array(z.string().min(1)),
  ...rateFields,
  input: usdPerMillion,
  output: usdPerMillion,
  tiers: z.array(tierSchema).optional(),
  source: z.url(),
  date: z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, "YYYY-MM or YYYY-MM-DD"),
  note: z.string().optional(),
});
const fileSchema = z.strictObject({ about: z.string(), models: z.array(rowSchema).min(1) });

/** Where the shipped table lives (the source folder, found from dist/ too). */
export function defaultTablePath(): string {
  return join(packageRoot(), "src", "pricing", "prices.json");
}

/**
 * Checks a table's content and indexes it. An id or alias that appears twice, in any family,
 * is an error: a lookup must never depend on row order.
 */
export function parseTable(raw: unknown, where = "prices.json"): PriceTable {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InferdError("internal", `${where}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  const byId = new Map<string, PriceRow>();
  const rows = parsed.data.models.map((r, i): PriceRow => {
    const row: PriceRow = {
      family: r.family,
      model: r.model,
      aliases: r.aliases,
      rates: ratesFromSnake(r),
      tiers: (r.tiers ?? []).map(tierFromSnake).sort((a, b) => a.aboveInputTokens - b.aboveInputTokens),
      source: r.source,
      date: r.date,
      ...(r.note !== undefined ? { note: r.note } : {}),
    };
    for (const id of [r.model, ...r.aliases]) {
      const key = id.toLowerCase();
      const other = byId.get(key);
      if (other !== undefined) throw new InferdError("internal", `${where}: models[${i}]: "${id}" is already ${other.family}/${other.model}`);
      byId.set(key, row);
    }
    return row;
  });
  return { rows, byId };
}

let shipped: PriceTable | undefined;

/** The table shipped with inferd, read and checked once. */
export function priceTable(): PriceTable {
  if (shipped === undefined) shipped = loadTable(defaultTablePath());
  return shipped;
}

/** Reads and checks a table file (the shipped one, or another for tests and tools). */
export function loadTable(path: string): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InferdError("internal", `cannot read the price table ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseTable(raw, path);
}

// -YYYY-MM-DD (OpenAI), -YYYYMMDD (Anthropic), @YYYYMMDD (Vertex AI)
const DATE_SUFFIX = /(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8})$/;

/** The row billing `model` (optionally only among one family's rows), and how it was found. */
export function lookupPrice(table: PriceTable, model: string, family?: ProviderFamily): { row: PriceRow; match: MatchKind } | undefined {
  const fits = (row: PriceRow | undefined) => row !== undefined && (family === undefined || row.family === family);
  const id = model.trim().toLowerCase();
  const exact = table.byId.get(id);
  if (exact !== undefined && fits(exact)) return { row: exact, match: exact.model.toLowerCase() === id ? "exact" : "alias" };
  const undated = id.replace(DATE_SUFFIX, "");
  const dated = undated !== id ? table.byId.get(undated) : undefined;
  if (dated !== undefined && fits(dated)) return { row: dated, match: "dated" };
  let best: { key: string; row: PriceRow } | undefined;
  for (const [key, row] of table.byId) {
    if (!fits(row) || !undated.startsWith(`${key}-`)) continue;
    if (best === undefined || key.length > best.key.length) best = { key, row };
  }
  return best === undefined ? undefined : { row: best.row, match: "prefix" };
}
