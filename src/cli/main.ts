import { parseArgs } from "node:util";
import { formatBytes, listCachedModels } from "../models/cache.js";
import { resolveModel } from "../models/resolve.js";
import { isInferdError } from "../util/errors.js";
import { parseError } from "./args.js";
import { RUN_HELP, runCommand } from "./run.js";
import { serveCommand } from "./serve.js";
import { benchCommand } from "./bench.js";
import { costCommand } from "./cost.js";
import { pricesCommand } from "./prices.js";

const MAIN_HELP = `Usage: inferd <command> [options]

Commands:
  run [PROMPT]     generate text from a prompt, streamed to stdout
  serve            OpenAI- and Anthropic-compatible HTTP server
  bench serve      load-test any OpenAI-compatible server (TTFT, TPOT, ITL, throughput)
  models           list cached models (size, quantization)
  pull M           download (hf:...) or write (synthetic:...) a model into the cache
  prices           the price table requests are billed at (USD per 1M tokens)
  cost estimate    a month's bill per model for a load of requests
  usage            tokens and cost per key, model, provider, day or tag, from the ledger
  keys             virtual API keys with budgets and rate limits (create, list, revoke)
  route            train a learned router; evaluate routing policies on labelled outcomes

Models: a local .gguf path, hf:<owner>/<repo>/<file>.gguf, or synthetic:<shape>[-<quant>]
(shapes smollm2-135m, qwen2.5-0.5b, llama3.2-1b; quants f16, q8_0, q4_0).
Cache: $INFERD_HOME (default ~/.cache/inferd). Run "inferd <command> --help" for options.
`;

const MODELS_HELP = `Usage: inferd models

Lists the models in the cache ($INFERD_HOME/models) with size and quantization.
`;

const PULL_HELP = `Usage: inferd pull M

Downloads hf:<owner>/<repo>/<file>.gguf (resuming a partial download) or writes
synthetic:<shape>[-<quant>] into the cache, and prints its path.
`;

async function modelsCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) return help(MODELS_HELP);
  const models = await listCachedModels();
  if (models.length === 0) {
    process.stderr.write("no cached models (try: inferd pull synthetic:smollm2-135m)\n");
    return 0;
  }
  const rows = models.map((m) => [m.name, formatBytes(m.sizeBytes), m.quantization ?? "?", m.architecture ?? "?"]);
  const header = ["MODEL", "SIZE", "QUANT", "ARCH"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
  return 0;
}

async function pullCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return help(PULL_HELP);
  const spec = positionals[0];
  if (spec === undefined || positionals.length > 1) {
    process.stderr.write(PULL_HELP);
    return 1;
  }
  if (!spec.startsWith("hf:") && !spec.startsWith("synthetic:")) {
    process.stderr.write(`inferd: pull takes hf:<owner>/<repo>/<file>.gguf or synthetic:<shape>[-<quant>], not "${spec}"\n`);
    return 1;
  }
  process.stdout.write((await resolveModel(spec, { progress: true })) + "\n");
  return 0;
}

function parse(argv: string[], options: Record<string, { type: "string" | "boolean" }>) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: { ...options, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    throw parseError(e);
  }
}

function help(text: string): number {
  process.stdout.write(text);
  return 0;
}

/** Entry point: returns the exit code. User errors are one line, no stack trace. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        return await runCommand(rest);
      case "serve":
        return await serveCommand(rest);
      case "bench":
        return await benchCommand(rest);
      case "models":
        return await modelsCommand(rest);
      case "pull":
        return await pullCommand(rest);
      case "prices":
        return await pricesCommand(rest);
      case "cost":
        return await costCommand(rest);
      case "usage":
        // the ledger's drivers load only for this command
        return await (await import("./usage.js")).usageCommand(rest);
      case "route":
        return await (await import("./route.js")).routeCommand(rest);
      case "keys":
        // loaded on use: the other commands need neither SQLite nor the Redis client
        return await (await import("./keys.js")).keysCommand(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        return help(command === "help" && rest[0] === "run" ? RUN_HELP : MAIN_HELP);
      default:
        process.stderr.write(`inferd: unknown command "${command}"\n${MAIN_HELP}`);
        return 1;
    }
  } catch (e) {
    const msg = isInferdError(e) || !(e instanceof Error) ? String(isInferdError(e) ? e.message : e) : e.message;
    process.stderr.write(`inferd: ${msg.split("\n")[0]}\n`);
    if (process.env.INFERD_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
