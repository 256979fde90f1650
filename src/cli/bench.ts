import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { endpointUrl, resultJson, runBenchServe, type BenchServeOptions, type DatasetName } from "../loadgen/bench-serve.js";
import type { Endpoint } from "../loadgen/client.js";
import { formatReport, parseGoodput } from "../loadgen/report.js";
import { InferdError } from "../util/errors.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";

export const BENCH_HELP = `Usage: inferd bench serve --url URL --model M --num-prompts N [options]

Load-tests any OpenAI-compatible server (inferd, vLLM, llama-server, Ollama) like
"vllm bench serve": streamed requests on a seeded schedule, then throughput, TTFT, TPOT, ITL
and end-to-end latency (mean, median, p99) from the client's side. The table goes to stdout.

Options:
      --url URL              server base URL, e.g. http://127.0.0.1:8080 (required)
      --model M              "model" sent in each request (required)
      --num-prompts N        requests to send (required)
      --endpoint E           /v1/completions (default) or /v1/chat/completions
      --dataset D            random (default) or prefix-repetition
      --random-input-len N   random: prompt length in words, about one token each (default 256)
      --random-output-len N  tokens to generate per request, both datasets (default 128)
      --prefix-len N         prefix-repetition: shared prefix length in words (default 1024)
      --num-prefixes N       prefix-repetition: distinct shared prefixes (default 10)
      --suffix-len N         prefix-repetition: unique suffix length in words (default 256)
      --request-rate R       requests/s with Poisson arrivals, or inf: all at once (default inf)
      --max-concurrency C    most requests in flight (default: no cap; combines with a rate)
      --seed S               same seed, same prompts and arrival times (default 0)
      --goodput K:MS         SLO for goodput, K = ttft, tpot or e2el (repeatable)
      --json FILE            also write the results as JSON (vLLM's field names)
      --api-key K            sent as Authorization: Bearer K
      --no-initial-test      skip the untimed first request that checks URL and model
  -h, --help                 show this help

Requests stream with temperature 0, max_tokens = the output length and ignore_eos, and ask
for usage; token counts are the server's usage figures. Prompts are text of common short
words, so prompt lengths are approximate whatever the server's tokenizer.
`;

const VALUED = new Set(
  ["url", "model", "num-prompts", "endpoint", "dataset", "random-input-len", "random-output-len", "prefix-len", "num-prefixes", "suffix-len", "request-rate", "max-concurrency", "seed", "goodput", "json", "api-key"].map((f) => `--${f}`),
);

function required<T>(name: string, value: T | undefined): T {
  if (value === undefined) throw new InferdError("invalid_argument", `bench serve: --${name} is required (see inferd bench serve --help)`, { param: name });
  return value;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InferdError("invalid_argument", `invalid --${name}: ${JSON.stringify(value)} (must be ${allowed.join(" or ")})`, { param: name });
  }
  return value as T;
}

/** Parses `bench serve` flags into run options; every bad value is a one-line invalid_argument error. */
export function parseBenchServe(argv: string[]): { options: BenchServeOptions; json?: string } | "help" {
  let parsed;
  try {
    const s = { type: "string" } as const;
    parsed = parseArgs({
      args: joinNegativeValues(argv, VALUED),
      options: {
        url: s, model: s, "num-prompts": s, endpoint: s, dataset: s, "random-input-len": s, "random-output-len": s,
        "prefix-len": s, "num-prefixes": s, "suffix-len": s, "request-rate": s, "max-concurrency": s, seed: s,
        goodput: { type: "string", multiple: true }, json: s, "api-key": s,
        "no-initial-test": { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw parseError(e);
  }
  const v = parsed.values;
  if (v.help) return "help";
  const int = (name: keyof typeof v, min: number) => numberFlag(name, v[name] as string | undefined, { integer: true, min });
  const rate = v["request-rate"];
  const options: BenchServeOptions = {
    baseUrl: required("url", v.url),
    model: required("model", v.model),
    numPrompts: required("num-prompts", int("num-prompts", 1)),
    endpoint: oneOf<Endpoint>("endpoint", v.endpoint, ["/v1/completions", "/v1/chat/completions"], "/v1/completions"),
    dataset: oneOf<DatasetName>("dataset", v.dataset, ["random", "prefix-repetition"], "random"),
    randomInputLen: int("random-input-len", 1) ?? 256,
    randomOutputLen: int("random-output-len", 1) ?? 128,
    prefixLen: int("prefix-len", 1) ?? 1024,
    numPrefixes: int("num-prefixes", 1) ?? 10,
    suffixLen: int("suffix-len", 1) ?? 256,
    seed: numberFlag("seed", v.seed, { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? 0,
    requestRate: rate === undefined || rate.trim().toLowerCase() === "inf" ? Infinity : numberFlag("request-rate", rate, { minExclusive: 0 })!,
    maxConcurrency: int("max-concurrency", 1) ?? Infinity,
    goodput: parseGoodput(v.goodput ?? []),
    apiKey: v["api-key"],
    initialTest: !v["no-initial-test"],
  };
  endpointUrl(options.baseUrl, options.endpoint); // a bad --url fails here, before anything is printed
  return { options, json: v.json };
}

/** `inferd bench <subcommand>`; only `serve` exists. Returns the exit code. */
export async function benchCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "-h" || sub === "--help" || sub === "help") {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (sub !== "serve") {
    process.stderr.write(`inferd: ${sub === undefined ? "bench needs a subcommand" : `unknown bench subcommand "${sub}"`}\n${BENCH_HELP}`);
    return 1;
  }
  const parsed = parseBenchServe(rest);
  if (parsed === "help") {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const o = parsed.options;
  const tty = process.stderr.isTTY;
  process.stderr.write(
    `[bench] ${o.numPrompts} ${o.dataset} prompts to ${o.baseUrl}${o.endpoint}, rate ${Number.isFinite(o.requestRate) ? `${o.requestRate}/s` : "inf"}` +
      `${Number.isFinite(o.maxConcurrency) ? `, max concurrency ${o.maxConcurrency}` : ""}\n`,
  );
  const result = await runBenchServe({
    ...o,
    // a live counter only on a terminal: in a log file it would be N lines of noise
    onProgress: tty ? (done, total) => process.stderr.write(`\r[bench] ${done}/${total} done${done === total ? "\n" : ""}`) : undefined,
  });
  process.stdout.write(formatReport(result.metrics, o));
  if (parsed.json !== undefined) await writeFile(parsed.json, JSON.stringify(resultJson(o, result), null, 2) + "\n");
  return result.metrics.completed > 0 ? 0 : 1;
}
