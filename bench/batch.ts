/**
 * `npm run bench -- batch`: aggregate throughput of N concurrent streams, side by side in one
 * run: inferd's engine, (a) node-llama-cpp's high-level API as its README shows it (one context
 * with N sequences, a LlamaCompletion each), (b) raw batched decode of the same batch through
 * the same kernels with greedy sampling and no scheduler (the limit of these kernels).
 */
import { getLlama, LlamaCompletion, LlamaLogLevel, TokenBias, type Token } from "node-llama-cpp";
import { LlamaBackend } from "../src/backend/llama-backend.js";
import type { PlanItem, SamplerConfig } from "../src/backend/backend.js";
import { Engine } from "../src/index.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { fmt, percentile, printTable } from "./table.js";

export interface BatchBenchOptions {
  models: string[];
  threads: number;
  streams: number[];
  loads: Load[];
  systems: System[];
}

export interface Load {
  name: string;
  promptTokens: number;
  outputTokens: number;
}

export type System = "inferd" | "node-llama-cpp" | "raw";

export const LOADS: Load[] = [
  { name: "decode-heavy", promptTokens: 32, outputTokens: 256 },
  { name: "mixed", promptTokens: 256, outputTokens: 128 },
];

interface Result {
  outTps: number;
  ttft: number[];
  tpot: number[];
}

export async function batchBench(o: BatchBenchOptions): Promise<void> {
  for (const spec of o.models) {
    const path = await ensureSyntheticModel(spec);
    const rows: (string | number)[][] = [];
    for (const load of o.loads) {
      for (const n of o.streams) {
        const ctx = load.promptTokens + load.outputTokens + 8;
        const r: Partial<Record<System, Result>> = {};
        for (const sys of o.systems) {
          r[sys] = await runSystem(sys, path, o.threads, n, ctx, load);
          console.error(`  ${spec} ${load.name} N=${n} ${sys}: ${fmt(r[sys]!.outTps)} out tok/s`);
        }
        const i = r.inferd;
        rows.push([
          load.name,
          n,
          fmt(i?.outTps ?? NaN),
          fmt(r["node-llama-cpp"]?.outTps ?? NaN),
          fmt(r.raw?.outTps ?? NaN),
          i && r["node-llama-cpp"] ? fmt(i.outTps / r["node-llama-cpp"].outTps, 2) + "x" : "-",
          i && r.raw ? fmt((100 * i.outTps) / r.raw.outTps, 0) + "%" : "-",
          i ? `${fmt(percentile(i.ttft, 50), 0)} / ${fmt(percentile(i.ttft, 99), 0)}` : "-",
          i ? `${fmt(percentile(i.tpot, 50))} / ${fmt(percentile(i.tpot, 99))}` : "-",
        ]);
      }
    }
    console.log(`\n${spec}, ${o.threads} threads, greedy, end-of-generation banned so every stream runs to its length\n`);
    printTable(
      ["load", "streams", "inferd out tok/s", "(a) node-llama-cpp", "(b) raw batch", "inferd/(a)", "inferd/(b)", "TTFT p50/p99 ms", "TPOT p50/p99 ms"],
      rows,
    );
  }
}

function prompts(n: number, len: number, vocab: number): number[][] {
  return Array.from({ length: n }, (_, s) => Array.from({ length: len }, (_, i) => 100 + ((i * 7919 + s * 104729 + 13) % (vocab - 200))));
}

async function runSystem(sys: System, path: string, threads: number, n: number, ctx: number, load: Load): Promise<Result> {
  switch (sys) {
    case "inferd":
      return runInferd(path, threads, n, ctx, load);
    case "node-llama-cpp":
      return runNlc(path, threads, n, ctx, load);
    case "raw":
      return runRaw(path, threads, n, ctx, load);
  }
}

async function runInferd(path: string, threads: number, n: number, ctx: number, load: Load): Promise<Result> {
  // fixed threads like the others, unless INFERD_BENCH_AUTO_THREADS: then measured per batch size, up to `threads`
  const auto = process.env.INFERD_BENCH_AUTO_THREADS !== undefined;
  const engine = await Engine.load({ model: path, ...(auto ? { maxThreads: threads } : { threads }), maxSequences: n, contextSize: ctx, batchSize: 512 });
  const eos = engine.model.eosToken!;
  const ps = prompts(n, load.promptTokens, engine.model.vocabSize);
  const t0 = performance.now();
  const per = await Promise.all(
    ps.map(async (p) => {
      for await (const ev of engine.generate(p, { temperature: 0, maxTokens: load.outputTokens, logitBias: { [eos]: -100 } })) {
        if (ev.type === "done") return ev.stats;
      }
      throw new Error("no done event");
    }),
  );
  const wall = performance.now() - t0;
  if (process.env.INFERD_BENCH_VERBOSE && engine.threadTuner) console.error(JSON.stringify(engine.threadTuner.snapshot()));
  await engine.dispose();
  const out = per.reduce((s, x) => s + x.outputTokens, 0);
  return { outTps: (out * 1000) / wall, ttft: per.map((s) => s.timeToFirstTokenMs), tpot: per.map((s) => s.timePerOutputTokenMs) };
}

async function runNlc(path: string, threads: number, n: number, ctx: number, load: Load): Promise<Result> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: ctx, sequences: n, threads, batchSize: 512 });
  const bias = new TokenBias(model.tokenizer);
  bias.set(model.tokens.eos!, "never");
  const vocab = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 32000;
  const ps = prompts(n, load.promptTokens, vocab);
  const t0 = performance.now();
  const per = await Promise.all(
    ps.map(async (p) => {
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
      let first = 0;
      let count = 0;
      const start = performance.now();
      await completion.generateCompletion(p as Token[], {
        maxTokens: load.outputTokens,
        temperature: 0,
        tokenBias: bias,
        onToken: (t) => {
          if (count === 0) first = performance.now();
          count += t.length;
        },
      });
      const end = performance.now();
      return { count, ttft: first - start, tpot: count > 1 ? (end - first) / (count - 1) : 0 };
    }),
  );
  const wall = performance.now() - t0;
  await context.dispose();
  await model.dispose();
  const out = per.reduce((s, x) => s + x.count, 0);
  return { outTps: (out * 1000) / wall, ttft: per.map((x) => x.ttft), tpot: per.map((x) => x.tpot) };
}

const GREEDY: SamplerConfig = {
  temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0,
  penaltyWindow: 0, logitBias: new Map(), seed: 0, logprobs: undefined,
};

/** The same batch with no scheduler: prefill everything in 512-token chunks, then decode all N together. */
async function runRaw(path: string, threads: number, n: number, ctx: number, load: Load): Promise<Result> {
  const backend = await LlamaBackend.load({ path, threads, contextSize: ctx, maxSequences: n, batchSize: 512 });
  const sampler = { ...GREEDY, logitBias: new Map([[backend.model.eosToken!, -100]]) };
  for (let s = 0; s < n; s++) backend.openSequence(s, sampler);
  const ps = prompts(n, load.promptTokens, backend.model.vocabSize);
  const t0 = performance.now();
  // prefill, packed into batches of at most 512 tokens
  let items: PlanItem[] = [];
  let used = 0;
  const last = new Array<number>(n);
  const flush = async () => {
    const r = await backend.run({ items });
    items.forEach((it, i) => {
      if (it.sample) last[it.seq] = r.samples[i]!.token;
    });
    items = [];
    used = 0;
  };
  for (let s = 0; s < n; s++) {
    for (let pos = 0; pos < load.promptTokens; ) {
      const take = Math.min(512 - used, load.promptTokens - pos);
      items.push({ seq: s, firstPos: pos, tokens: ps[s]!.slice(pos, pos + take), sample: pos + take === load.promptTokens });
      used += take;
      pos += take;
      if (used === 512) await flush();
    }
  }
  if (items.length > 0) await flush();
  const ttft = performance.now() - t0;
  for (let step = 1; step < load.outputTokens; step++) {
    items = Array.from({ length: n }, (_, s) => ({ seq: s, firstPos: load.promptTokens + step - 1, tokens: [last[s]!], sample: true }));
    await flush();
  }
  const wall = performance.now() - t0;
  await backend.dispose();
  const tpot = (wall - ttft) / Math.max(1, load.outputTokens - 1);
  return { outTps: (n * load.outputTokens * 1000) / wall, ttft: [ttft], tpot: [tpot] };
}
