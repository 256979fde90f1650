/**
 * `inferd cost estimate`: a month's bill per model for a load of identical requests. Hosted
 * models from the price table; local models from measured throughput, which the caller passes
 * in (`costOutput(argv, { local })`: the capacity planner's figures).
 */
import { parseArgs } from "node:util";
import { DAYS_PER_MONTH, estimateCosts, type EstimateRow } from "../pricing/estimate.js";
import type { LocalThroughput } from "../pricing/local-rates.js";
import { priceTable } from "../pricing/table.js";
import { InferdError } from "../util/errors.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";
import { formatColumns } from "./columns.js";

export const COST_HELP = `Usage: inferd cost estimate --requests-per-day N --input-tokens N --output-tokens N [options]

A month's bill (${DAYS_PER_MONTH} days) per model for N requests a day of the same shape, in USD,
exact to the table's rates. Hosted models are priced from the price table (inferd prices),
the long-context tier chosen by one request's prompt; a model on this machine needs measured
throughput, and is shown as the machines the load needs (its compute spread evenly over the
day, rounded up: peaks need more) and their cost for the month.

Options:
      --requests-per-day N  requests a day (required)
      --input-tokens N      prompt tokens per request (required)
      --output-tokens N     output tokens per request (required)
      --cached-share S      share of the prompt read from a prompt cache, 0..1 (default 0);
                            the cache is taken as warm: no cache-write charges are counted
      --models A,B,...      models to price (table ids or dated ids; default: the whole table)
      --local M             a model on this machine (a .gguf path, hf:..., synthetic:...), repeatable:
                            its throughput is measured here first (a few seconds) at --concurrency
      --concurrency N       requests at once when measuring (default 8)
      --usd-per-hour X      what this machine costs (default $0.126: AWS r6i.large on demand)
      --format F            table (default) or json
  -h, --help                show this help

A model with no price is listed as such (never as $0), and the exit code is then 1.
`;

const VALUED = new Set(["--requests-per-day", "--input-tokens", "--output-tokens", "--cached-share", "--models", "--format", "--local", "--concurrency", "--usd-per-hour"]);

function required(name: string, v: number | undefined): number {
  if (v === undefined) throw new InferdError("invalid_argument", `cost estimate: --${name} is required (see inferd cost estimate --help)`, { param: name });
  return v;
}

function tableOf(rows: EstimateRow[]): string {
  const cells = rows.map((r): string[] => {
    switch (r.kind) {
      case "hosted":
        return [r.model, r.family, r.perRequestUsdExact, r.monthlyUsdExact, [...(r.tier !== null ? [`long-context tier >${r.tier}`] : []), ...r.warnings].join("; ")];
      case "local":
        return [r.model, "local", r.perRequestUsdExact, r.monthlyUsdExact, `${r.machines} machine${r.machines === 1 ? "" : "s"} at $${r.usdPerHour}/h, ${(r.utilization * 100).toFixed(1)}% busy`];
      case "unpriced":
        return [r.model, "-", "-", "-", r.warnings.join("; ")];
    }
  });
  return formatColumns(["MODEL", "FAMILY", "USD/REQUEST", "USD/MONTH", "NOTE"], cells, ["left", "left", "right", "right"]);
}

/**
 * What `inferd cost ARGV` prints; `local` are local models' measured figures. `incomplete`:
 * a model in the answer has no price, so the bill is not whole.
 */
export function costOutput(argv: string[], opts: { local?: LocalThroughput[] } = {}): { text: string; incomplete: boolean } {
  const [sub, ...rest] = argv;
  if (sub === "-h" || sub === "--help" || sub === "help") return { text: COST_HELP, incomplete: false };
  if (sub !== "estimate") {
    throw new InferdError("invalid_argument", `${sub === undefined ? "cost needs a subcommand" : `unknown cost subcommand "${sub}"`} (see inferd cost --help)`);
  }
  let parsed;
  try {
    const s = { type: "string" } as const;
    parsed = parseArgs({
      args: joinNegativeValues(rest, VALUED),
      options: { "requests-per-day": s, "input-tokens": s, "output-tokens": s, "cached-share": s, models: s, format: s, local: { type: "string", multiple: true }, concurrency: s, "usd-per-hour": s, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    throw parseError(e);
  }
  const v = parsed.values;
  if (v.help) return { text: COST_HELP, incomplete: false };
  const format = v.format ?? "table";
  if (format !== "table" && format !== "json") throw new InferdError("invalid_argument", `invalid --format: ${JSON.stringify(format)} (must be table or json)`, { param: "format" });
  const load = {
    requestsPerDay: required("requests-per-day", numberFlag("requests-per-day", v["requests-per-day"], { integer: true, min: 1 })),
    inputTokens: required("input-tokens", numberFlag("input-tokens", v["input-tokens"], { integer: true, min: 0 })),
    outputTokens: required("output-tokens", numberFlag("output-tokens", v["output-tokens"], { integer: true, min: 0 })),
    cachedShare: numberFlag("cached-share", v["cached-share"], { min: 0, max: 1 }) ?? 0,
  };
  const named = v.models?.split(",").map((m) => m.trim()).filter((m) => m.length > 0);
  // measured local models are priced beside the named (or all) hosted ones
  const models = named !== undefined && opts.local !== undefined ? [...named, ...opts.local.map((t) => t.model)] : named;
  if (models !== undefined && models.length === 0) throw new InferdError("invalid_argument", "invalid --models: no model named", { param: "models" });
  const rows = estimateCosts(load, { table: priceTable(), ...(models !== undefined ? { models } : {}), ...(opts.local !== undefined ? { local: opts.local } : {}) });
  const incomplete = rows.some((r) => r.kind === "unpriced");
  switch (format) {
    case "table":
      return { text: tableOf(rows), incomplete };
    case "json":
      return { text: JSON.stringify({ days: DAYS_PER_MONTH, load, models: rows }, null, 2) + "\n", incomplete };
  }
}

/** `inferd cost`: returns the exit code (1 when a named model has no price: the bill is incomplete). */
export async function costCommand(argv: string[], opts: { local?: LocalThroughput[] } = {}): Promise<number> {
  const local = await measured(argv);
  const { text, incomplete } = costOutput(argv, local.length > 0 ? { local: [...(opts.local ?? []), ...local] } : opts);
  process.stdout.write(text);
  return incomplete ? 1 : 0;
}

/** The --local models of `argv`, measured on this machine (progress on stderr). */
async function measured(argv: string[]): Promise<LocalThroughput[]> {
  let v;
  try {
    v = parseArgs({ args: joinNegativeValues(argv.slice(1), VALUED), strict: false, options: { local: { type: "string", multiple: true }, concurrency: { type: "string" }, "usd-per-hour": { type: "string" }, "input-tokens": { type: "string" }, "output-tokens": { type: "string" } } }).values;
  } catch (e) {
    throw parseError(e);
  }
  const specs = (v.local as string[] | undefined) ?? [];
  if (specs.length === 0) return [];
  const { measureLocal } = await import("../pricing/measure-local.js");
  const out: LocalThroughput[] = [];
  for (const model of specs) {
    process.stderr.write(`[inferd] measuring ${model} on this machine...\n`);
    const concurrency = numberFlag("concurrency", v.concurrency as string | undefined, { integer: true, min: 1, max: 256 });
    const usdPerHour = numberFlag("usd-per-hour", v["usd-per-hour"] as string | undefined, { min: 0 });
    const t = await measureLocal(model, {
      inputTokens: numberFlag("input-tokens", v["input-tokens"] as string | undefined, { integer: true, min: 0 }) ?? 0,
      outputTokens: numberFlag("output-tokens", v["output-tokens"] as string | undefined, { integer: true, min: 0 }) ?? 0,
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(usdPerHour !== undefined ? { usdPerHour } : {}),
    });
    process.stderr.write(`[inferd] ${model}: ${t.inputTokensPerSecond.toFixed(0)} prompt tok/s, ${t.outputTokensPerSecond.toFixed(1)} output tok/s at ${t.batchSize} at once\n`);
    out.push(t);
  }
  return out;
}
