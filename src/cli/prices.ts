/**
 * `inferd prices`: the price table inferd bills by, or with --config the prices of a config's
 * models (the table with the file's `price` fields over it, local models at their machine's
 * hour). Rates are printed exactly as the table writes them.
 */
import { parseArgs } from "node:util";
import { readPricedModels, priceBook } from "../pricing/price-book.js";
import type { Price, TokenPrice } from "../pricing/price-config.js";
import { rateOf, TOKEN_KINDS, type Rates, type Tier } from "../pricing/rates.js";
import { lookupPrice, priceTable, type PriceRow } from "../pricing/table.js";
import { InferdError } from "../util/errors.js";
import { parseError } from "./args.js";
import { formatColumns, type Align } from "./columns.js";

export const PRICES_HELP = `Usage: inferd prices [options] [MODEL...]

Lists the prices inferd bills requests at, in USD per 1M tokens: input, cached input (reads),
cache writes (5-minute and 1-hour), output and reasoning, each model's long-context tier (past
its threshold the whole request is billed at the tier's rates), the provider's pricing page
and the date of the prices. A MODEL shows the row that id is billed by (dated ids such as
gpt-4o-2024-08-06 find gpt-4o).

Options:
      --format F     table (default) or json
      --config FILE  the models of a config file with their price fields applied over the
                     table, and local models at their machine_usd_per_hour
  -h, --help         show this help

A "-" in CACHED: the row has no cached-input rate; cached tokens are billed at the input rate
(and the cost says so). Cache writes default to the input rate, reasoning to the output rate.
`;

type Format = "table" | "json";

const RATE_HEADER = ["INPUT", "CACHED", "WRITE-5M", "WRITE-1H", "OUTPUT", "REASONING"];

/** A rate set's cells: "-" for a cached rate the row does not have. */
function rateCells(r: Rates): string[] {
  return TOKEN_KINDS.map((k) => (k === "cached_input" && r.cachedInput === undefined ? "-" : String(rateOf(r, k))));
}

/** A rate set as JSON: every kind's effective rate, `cached_input` null when the row has none. */
function rateJson(r: Rates): Record<string, number | null> {
  return Object.fromEntries(TOKEN_KINDS.map((k) => [k, k === "cached_input" && r.cachedInput === undefined ? null : rateOf(r, k)]));
}

function tierJson(t: Tier): Record<string, number | null> {
  return { above_input_tokens: t.aboveInputTokens, ...rateJson(t) };
}

function tableRows(rows: readonly PriceRow[]): string {
  const header = ["MODEL", "FAMILY", ...RATE_HEADER, "TIER", "SOURCE", "DATE"];
  const align: Align[] = ["left", "left", ...RATE_HEADER.map((): Align => "right"), "right"];
  const cells: string[][] = [];
  for (const r of rows) {
    cells.push([r.model, r.family, ...rateCells(r.rates), "-", r.source, r.date]);
    for (const t of r.tiers) cells.push([r.model, r.family, ...rateCells(t), `>${t.aboveInputTokens}`, r.source, r.date]);
  }
  return formatColumns(header, cells, align);
}

function rowsJson(rows: readonly PriceRow[]): string {
  const models = rows.map((r) => ({
    model: r.model, family: r.family, aliases: r.aliases, ...rateJson(r.rates), tiers: r.tiers.map(tierJson), source: r.source, date: r.date, ...(r.note !== undefined ? { note: r.note } : {}),
  }));
  return JSON.stringify({ models }, null, 2) + "\n";
}

function priceJson(p: Price | undefined): unknown {
  switch (p?.kind) {
    case undefined:
      return null;
    case "compute":
      return { kind: "compute", machine_usd_per_hour: p.usdPerHour, source: p.source };
    case "tokens":
      return { kind: "tokens", priced_as: p.model, family: p.family ?? null, match: p.match, overridden: p.overridden, ...rateJson(p.rates), tiers: p.tiers.map(tierJson), source: p.source, date: p.date ?? null };
  }
}

function tokenCells(p: TokenPrice, rates: Rates, tier: string): string[] {
  return [p.model, ...rateCells(rates), tier, "", p.overridden.join(",") || "-", p.source, p.date ?? "-"];
}

async function configOutput(path: string, format: Format): Promise<string> {
  const book = priceBook(await readPricedModels(path), priceTable());
  switch (format) {
    case "json":
      return JSON.stringify({ models: book.entries.map(({ entry, price }) => ({ name: entry.name, provider: entry.provider, model: entry.model, price: priceJson(price) })), notes: book.notes }, null, 2) + "\n";
    case "table": {
      const header = ["NAME", "PROVIDER", "PRICED-AS", ...RATE_HEADER, "TIER", "USD/HOUR", "FROM-CONFIG", "SOURCE", "DATE"];
      const align: Align[] = ["left", "left", "left", ...RATE_HEADER.map((): Align => "right"), "right", "right"];
      const cells: string[][] = [];
      for (const { entry, price } of book.entries) {
        const lead = [entry.name, entry.provider];
        switch (price?.kind) {
          case undefined:
            cells.push([...lead, "-", ...RATE_HEADER.map(() => "-"), "-", "", "-", "no price: requests cost null (unknown)", "-"]);
            break;
          case "compute":
            cells.push([...lead, entry.model, ...RATE_HEADER.map(() => ""), "", String(price.usdPerHour), price.source === "config" ? "machine_usd_per_hour" : "-", price.source, "-"]);
            break;
          case "tokens":
            cells.push([...lead, ...tokenCells(price, price.rates, "-")]);
            for (const t of price.tiers) cells.push([...lead, ...tokenCells(price, t, `>${t.aboveInputTokens}`)]);
            break;
        }
      }
      // the notes (an unpriced model, a price found by prefix) are part of the answer, not noise
      return formatColumns(header, cells, align) + book.notes.map((n) => `note: ${n}\n`).join("");
    }
  }
}

/** What `inferd prices ARGV` prints. */
export async function pricesOutput(argv: string[]): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { format: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    throw parseError(e);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return PRICES_HELP;
  const format = v.format ?? "table";
  if (format !== "table" && format !== "json") throw new InferdError("invalid_argument", `invalid --format: ${JSON.stringify(format)} (must be table or json)`, { param: "format" });
  if (v.config !== undefined) {
    if (positionals.length > 0) throw new InferdError("invalid_argument", "prices: give --config FILE or MODEL names, not both", { param: "config" });
    return configOutput(v.config, format);
  }
  const table = priceTable();
  const rows: PriceRow[] = [];
  for (const m of positionals) {
    const found = lookupPrice(table, m);
    if (found === undefined) throw new InferdError("model_not_found", `no price for "${m}" in the price table (see inferd prices)`, { param: "model" });
    if (!rows.includes(found.row)) rows.push(found.row);
  }
  const shown = positionals.length > 0 ? rows : table.rows;
  switch (format) {
    case "table":
      return tableRows(shown);
    case "json":
      return rowsJson(shown);
  }
}

/** `inferd prices`: returns the exit code. */
export async function pricesCommand(argv: string[]): Promise<number> {
  process.stdout.write(await pricesOutput(argv));
  return 0;
}
