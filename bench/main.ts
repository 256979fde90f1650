/**
 * Benchmarks: `npm run bench -- <decode|batch|serve|prefix|spec|gateway|cascade> [--threads N] [--models a,b] [--repeats R]`.
 * Run on an idle machine, one at a time: llama.cpp's spinning threads make any other busy
 * process distort the figures.
 */
import { parseArgs } from "node:util";
import { availableCpus } from "../src/backend/threads.js";
import { batchBench, LOADS, type System } from "./batch.js";
import { decodeBench } from "./decode.js";
import { serveBench } from "./serve.js";
import { prefixBench, type Mode, type PrefixPart } from "./prefix.js";
import { SPEC_PARTS, specBench, type SpecPart } from "./spec.js";
import { cascadeBench } from "./cascade.js";
import { GATEWAY_MODES, GATEWAY_SYSTEMS, gatewayBench, type GatewayMode, type GatewaySystem } from "./gateway.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string" },
    models: { type: "string" },
    repeats: { type: "string" },
    prompt: { type: "string" },
    output: { type: "string" },
    streams: { type: "string" },
    loads: { type: "string" },
    systems: { type: "string" },
    "fixed-threads": { type: "boolean" },
    concurrency: { type: "string" },
    input: { type: "string" },
    "num-prompts": { type: "string" },
    turns: { type: "string" },
    conversations: { type: "string" },
    "conversations-at-once": { type: "string" },
    parts: { type: "string" },
    "spec-k": { type: "string" },
    "batch-size": { type: "string" },
    modes: { type: "string" },
    context: { type: "string" },
    "step-tokens": { type: "string" },
    rates: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    prime: { type: "string" },
    ramp: { type: "string" },
    "ramp-seconds": { type: "string" },
    "keep-logs": { type: "boolean" },
    ledger: { type: "string" },
  },
});
const which = positionals[0] ?? "decode";
const threads = values.threads ? Number(values.threads) : availableCpus();
const models = (values.models ?? "synthetic:smollm2-135m-q8_0,synthetic:qwen2.5-0.5b-q4_0").split(",");

switch (which) {
  case "cascade":
    await cascadeBench({
      small: (values.models ?? "synthetic:smollm2-135m-q8_0,synthetic:qwen2.5-0.5b-q4_0").split(",")[0]!,
      large: (values.models ?? "synthetic:smollm2-135m-q8_0,synthetic:qwen2.5-0.5b-q4_0").split(",")[1] ?? "synthetic:qwen2.5-0.5b-q4_0",
      outputTokens: Number(values.output ?? 64),
      repeats: Number(values.repeats ?? 10),
      threads,
    });
    break;
  case "decode":
    await decodeBench({
      models,
      threads,
      promptTokens: Number(values.prompt ?? 512),
      outputTokens: Number(values.output ?? 128),
      repeats: Number(values.repeats ?? 3),
      fixedThreads: values["fixed-threads"] ?? false,
    });
    break;
  case "batch":
    await batchBench({
      models: values.models ? models : ["synthetic:smollm2-135m-q8_0"],
      threads,
      streams: (values.streams ?? "1,8,32,64").split(",").map(Number),
      loads: LOADS.filter((l) => (values.loads ?? "decode-heavy,mixed").split(",").includes(l.name)),
      systems: (values.systems ?? "inferd,node-llama-cpp,raw").split(",") as System[],
    });
    break;
  case "serve":
    await serveBench({
      model: values.models ?? "synthetic:smollm2-135m-q8_0",
      threads,
      concurrency: (values.concurrency ?? "1,8,32").split(",").map(Number),
      inputLen: Number(values.input ?? 128),
      outputLen: Number(values.output ?? 128),
      minPrompts: 8,
      repeats: Number(values.repeats ?? 2),
    });
    break;
  case "prefix":
    await prefixBench({
      model: values.models ?? "synthetic:smollm2-135m-q8_0",
      threads,
      numPrompts: Number(values["num-prompts"] ?? 100),
      concurrency: Number(values.concurrency ?? 8),
      turns: Number(values.turns ?? 8),
      conversations: Number(values.conversations ?? 4),
      conversationsAtOnce: Number(values["conversations-at-once"] ?? values.conversations ?? 4),
      parts: (values.parts ?? "repetition,multiturn").split(",") as PrefixPart[],
      repeats: Number(values.repeats ?? 2),
      ...(values["batch-size"] !== undefined ? { batchSize: Number(values["batch-size"]) } : {}),
      modes: (values.modes ?? "on,off").split(",") as Mode[],
      contextSize: Number(values.context ?? 2048),
      ...(values["step-tokens"] !== undefined ? { stepTokens: Number(values["step-tokens"]) } : {}),
    });
    break;
  case "spec":
    await specBench({
      threads,
      fixedThreads: values["fixed-threads"] ?? false,
      repeats: Number(values.repeats ?? 6),
      outputTokens: Number(values.output ?? 256),
      parts: (values.parts?.split(",") ?? SPEC_PARTS) as SpecPart[],
      ...(values["spec-k"] !== undefined ? { specK: Number(values["spec-k"]) } : {}),
    });
    break;
  case "gateway": {
    const list = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] => {
      const xs = (value ?? allowed.join(",")).split(",");
      for (const x of xs) if (!allowed.includes(x as T)) throw new Error(`--${flag}: unknown "${x}" (${allowed.join(", ")})`);
      return xs as T[];
    };
    const numbers = (v: string) =>
      v.split(",").map((x) => {
        const n = Number(x);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: "${x}"`);
        return n;
      });
    await gatewayBench({
      rates: numbers(values.rates ?? "100,500,1000"),
      seconds: Number(values.seconds ?? 8),
      warmupS: Number(values.warmup ?? 1),
      primeS: Number(values.prime ?? 2),
      primeRate: 300,
      systems: list<GatewaySystem>("systems", values.systems, GATEWAY_SYSTEMS),
      modes: list<GatewayMode>("modes", values.modes, GATEWAY_MODES),
      ramp: values.ramp === "off" ? [] : numbers(values.ramp ?? "250,500,1000,1500,2000,3000,4000,6000"),
      rampSeconds: Number(values["ramp-seconds"] ?? 4),
      sustainShare: 0.95,
      sustainP99Ms: 100,
      sustainErrorShare: 0.001,
      keepLogs: values["keep-logs"] ?? false,
      ledger: (values.ledger ?? "on") !== "off",
    });
    break;
  }
  default:
    console.error(`unknown benchmark "${which}" (decode, batch, serve, prefix, spec, gateway, cascade)`);
    process.exitCode = 1;
}
