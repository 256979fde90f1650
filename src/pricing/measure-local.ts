/**
 * What a model does on this machine, measured: prompt tokens prefilled per second and tokens
 * generated per second, each with `concurrency` requests at once (continuous batching is how a
 * server runs them, and a token's price depends on the batch it ran in). The figures `inferd
 * cost estimate --local` prices a load with.
 */
import { Engine } from "../engine/engine.js";
import { DEFAULT_MACHINE_USD_PER_HOUR } from "./price-config.js";
import type { LocalThroughput } from "./local-rates.js";

export interface MeasureOptions {
  inputTokens: number;
  outputTokens: number;
  /** Requests at once (default 8, the engine's default sequences). */
  concurrency?: number;
  usdPerHour?: number;
  threads?: number;
}

/** Prompts of `n` distinct tokens (a cached prefix would flatter the prefill rate). */
function prompts(engine: Engine, count: number, n: number): number[][] {
  const vocab = Math.max(2, engine.model.vocabSize);
  const bos = engine.model.bosToken;
  return Array.from({ length: count }, (_, r) => Array.from({ length: Math.max(1, n) }, (_, i) => (i === 0 && bos !== undefined ? bos : 1 + ((r * 7919 + i * 104729) % (vocab - 1)))));
}

async function run(engine: Engine, batch: number[][], maxTokens: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(batch.map(async (p) => {
    for await (const _ of engine.generate(p, { temperature: 0, maxTokens, ignoreEos: true }));
  }));
  return (performance.now() - t0) / 1000;
}

export async function measureLocal(model: string, o: MeasureOptions): Promise<LocalThroughput> {
  const concurrency = o.concurrency ?? 8;
  const contextSize = Math.max(64, o.inputTokens + o.outputTokens + 8);
  const engine = await Engine.load({ model, maxSequences: concurrency, contextSize, prefixCache: false, kvTierBytes: 0, ...(o.threads !== undefined ? { threads: o.threads } : {}) });
  try {
    await run(engine, prompts(engine, concurrency, 16), 4); // warm-up: the thread choice measures itself here
    const inputN = Math.max(16, o.inputTokens);
    const prefillS = await run(engine, prompts(engine, concurrency, inputN), 1);
    const outputN = Math.max(16, o.outputTokens);
    const decodeS = await run(engine, prompts(engine, concurrency, 8), outputN);
    return {
      model,
      inputTokensPerSecond: (concurrency * inputN) / prefillS,
      outputTokensPerSecond: (concurrency * outputN) / decodeS,
      usdPerHour: o.usdPerHour ?? DEFAULT_MACHINE_USD_PER_HOUR,
      batchSize: concurrency,
    };
  } finally {
    await engine.dispose();
  }
}
