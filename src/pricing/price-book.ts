/**
 * The prices of a config's models, found by who answered a request. A `Usage` record names
 * its provider and model (after fallbacks, the model that really answered, which may not be the
 * one asked for), so a request is billed at the answering model's price: the book is keyed as
 * the gateway routes (a local model by its name under "local", a hosted one by its provider's
 * name and upstream model id).
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import type { Usage } from "../providers/provider.js";
import { InferdError } from "../util/errors.js";
import { DEFAULT_MACHINE_USD_PER_HOUR, priceConfigSchema, resolveModelPrice, type Price, type PriceConfig } from "./price-config.js";
import { parseUsd, usd, usdString } from "./money.js";
import { priceUsage, type Cost } from "./price-usage.js";
import type { PriceTable } from "./table.js";

/** A config model entry as pricing reads it (the config schema's `models[]` fields). */
export interface BookEntry {
  name: string;
  provider: string;
  model: string;
  price?: PriceConfig;
}

export interface PriceBook {
  /** The price of the model that answered, by the record's provider and model. */
  priceOf(provider: string, model: string): Price | undefined;
  /** A request's cost at the answering model's price, plus its prior calls' at theirs (a cascade's). */
  cost(usage: Usage): Cost;
  /** Each entry's name with its price (undefined: unpriced), in config order. */
  entries: { entry: BookEntry; price: Price | undefined }[];
  /** What to tell the operator once, at start (unpriced models, prices found by prefix). */
  notes: string[];
}

function key(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}

/**
 * The book of a config's models. Two entries that route to the same provider and model with
 * different prices are an error: a record could not say which one it was.
 */
export function priceBook(models: readonly BookEntry[], table: PriceTable, defaultUsdPerHour = DEFAULT_MACHINE_USD_PER_HOUR): PriceBook {
  const byKey = new Map<string, { entry: BookEntry; price: Price | undefined }>();
  const entries: PriceBook["entries"] = [];
  const notes: string[] = [];
  for (const entry of models) {
    const { price, notes: n } = resolveModelPrice(entry, table, defaultUsdPerHour);
    notes.push(...n.map((s) => `${entry.name}: ${s}`));
    // a local model's pool knows it by its route name; an upstream by its model id
    const k = key(entry.provider, entry.provider === "local" ? entry.name : entry.model);
    const prior = byKey.get(k);
    if (prior !== undefined && JSON.stringify(prior.price) !== JSON.stringify(price)) {
      throw new InferdError("invalid_argument", `models "${prior.entry.name}" and "${entry.name}" are ${entry.provider}/${entry.model} at two different prices`, { param: "price" });
    }
    byKey.set(k, { entry, price });
    entries.push({ entry, price });
  }
  const priceOf = (provider: string, model: string) => byKey.get(key(provider, model))?.price;
  const cost = (u: Usage): Cost => {
    const own = priceUsage(u, priceOf(u.provider, u.model));
    return u.prior === undefined || u.prior.length === 0 ? own : withPrior(own, u.prior.map(cost));
  };
  return { priceOf, cost, entries, notes };
}

/**
 * A request's cost with its prior calls' added: unknown (null) when any call is unpriced, as a
 * sum with an unknown term is unknown; the parts stay the answering call's.
 */
function withPrior(own: Cost, prior: Cost[]): Cost {
  const all = [own, ...prior];
  const warnings = [...own.warnings, ...prior.flatMap((p) => p.warnings.map((w) => `prior call: ${w}`))];
  if (all.some((c) => c.usdExact === null)) return { ...own, usd: null, usdExact: null, savedUsd: null, savedUsdExact: null, warnings: [...warnings, "a prior call is unpriced"] };
  const total = all.reduce((s, c) => s + parseUsd(c.usdExact!), 0n);
  const saved = all.reduce((s, c) => s + (c.savedUsdExact === null ? 0n : parseUsd(c.savedUsdExact)), 0n);
  return { ...own, usd: usd(total), usdExact: usdString(total), savedUsd: usd(saved), savedUsdExact: usdString(saved), warnings };
}

/** The part of a config file pricing reads: each model's name, provider, model and price. */
const pricedFile = z.object({
  models: z.array(z.object({ name: z.string().min(1), provider: z.string().min(1), model: z.string().min(1), price: priceConfigSchema.optional() })).min(1),
});

/**
 * The models of a config file with their `price` fields checked, without the rest of the
 * file's checks (keys in the environment, model files on disk): `inferd prices --config` shows
 * prices on a machine that cannot serve the file. `inferd serve` checks the whole file.
 */
export async function readPricedModels(path: string): Promise<BookEntry[]> {
  const file = basename(path);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new InferdError("invalid_argument", `cannot read config file ${path}: ${e instanceof Error ? e.message : String(e)}`, { param: "config" });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new InferdError("invalid_argument", `${file}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, { param: "config" });
  }
  const parsed = pricedFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
    const keys = issue.code === "unrecognized_keys" ? `.${issue.keys.join(", ")}` : "";
    throw new InferdError("invalid_argument", `${file}: ${where || "(top level)"}${keys}: ${issue.message}`, { param: "config" });
  }
  return parsed.data.models.map((m) => ({ name: m.name, provider: m.provider, model: m.model, ...(m.price !== undefined ? { price: m.price } : {}) }));
}
