/**
 * `npm run bench -- decode`: prefill and single-stream decode speed, inferd vs node-llama-cpp's
 * high-level API (a LlamaCompletion, as its README shows), same model, same threads, same run.
 */
import { getLlama, LlamaCompletion, LlamaLogLevel, TokenBias, type Token } from "node-llama-cpp";
import { Engine } from "../src/index.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { fmt, median, printTable } from "./table.js";

export interface DecodeBenchOptions {
  models: string[];
  threads: number;
  promptTokens: number;
  outputTokens: number;
  repeats: number;
  /** Give inferd the same fixed thread count as node-llama-cpp instead of its measured choice. */
  fixedThreads: boolean;
}

interface Figures {
  prefill: number;
  decode: number;
}

export async function decodeBench(o: DecodeBenchOptions): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const spec of o.models) {
    const path = await ensureSyntheticModel(spec);
    // inferd picks 1..threads per step from measurements unless --fixed-threads
    const engine = await Engine.load({ model: path, threads: o.fixedThreads ? o.threads : undefined, maxThreads: o.threads, maxSequences: 1, contextSize: 2048, batchSize: 512 });
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: path });
    const eos = engine.model.eosToken!;
    const vocab = engine.model.vocabSize;
    // deterministic pseudo-random prompt tokens, the same for both
    const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 100 + ((i * 7919 + salt * 104729) % (vocab - 200)));

    const inferd = async (salt: number): Promise<Figures> => {
      const pf = await timeInferd(engine, prompt(o.promptTokens, salt), 1, eos);
      const dc = await timeInferd(engine, prompt(16, salt), o.outputTokens, eos);
      return { prefill: o.promptTokens / (pf.ttftMs / 1000), decode: dc.decodeTps };
    };
    const nlc = async (salt: number): Promise<Figures> => {
      const pf = await timeNlc(model, o.threads, prompt(o.promptTokens, salt), 1, eos);
      const dc = await timeNlc(model, o.threads, prompt(16, salt), o.outputTokens, eos);
      return { prefill: o.promptTokens / (pf.ttftMs / 1000), decode: dc.decodeTps };
    };
    // warm-up both (page in weights, allocate buffers); inferd's thread tuner explores here
    for (let w = 0; w < 3; w++) await inferd(100 + w);
    await nlc(0);
    const a: Figures[] = [];
    const b: Figures[] = [];
    for (let r = 1; r <= o.repeats; r++) {
      a.push(await inferd(r));
      b.push(await nlc(r));
    }
    const ip = median(a.map((f) => f.prefill));
    const np = median(b.map((f) => f.prefill));
    const id = median(a.map((f) => f.decode));
    const nd = median(b.map((f) => f.decode));
    rows.push([spec, o.fixedThreads ? `${o.threads} / ${o.threads}` : `auto 1-${o.threads} / ${o.threads}`, fmt(ip), fmt(np), fmt(ip / np, 2) + "x", fmt(id), fmt(nd), fmt(id / nd, 2) + "x"]);
    if (engine.threadTuner) console.error(`${spec}: inferd thread choice per batch size: ${JSON.stringify(engine.threadTuner.snapshot())}`);
    await engine.dispose();
    await model.dispose();
  }
  console.log(`\nprefill: ${o.promptTokens}-token prompt, time to first token; decode: ${o.outputTokens} tokens after a 16-token prompt, greedy; median of ${o.repeats}\n`);
  printTable(
    ["model", "threads inferd / nlc", "prefill inferd tok/s", "prefill node-llama-cpp", "ratio", "decode inferd tok/s", "decode node-llama-cpp", "ratio"],
    rows,
  );
}

async function timeInferd(engine: Engine, prompt: number[], maxTokens: number, eos: number) {
  const t0 = performance.now();
  let first = 0;
  let n = 0;
  for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens, logitBias: { [eos]: -100 } })) {
    if (ev.type === "delta" && ev.tokens.length > 0) {
      if (n === 0) first = performance.now();
      n += ev.tokens.length;
    }
  }
  const end = performance.now();
  return { ttftMs: first - t0, decodeTps: n > 1 ? ((n - 1) * 1000) / (end - first) : 0 };
}

async function timeNlc(model: Awaited<ReturnType<Awaited<ReturnType<typeof getLlama>>["loadModel"]>>, threads: number, prompt: number[], maxTokens: number, eos: number) {
  const context = await model.createContext({ contextSize: 2048, threads, sequences: 1, batchSize: 512 });
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  const bias = new TokenBias(model.tokenizer);
  bias.set(eos as Token, "never");
  const t0 = performance.now();
  let first = 0;
  let n = 0;
  await completion.generateCompletion(prompt as Token[], {
    maxTokens,
    temperature: 0,
    tokenBias: bias,
    onToken: (tokens) => {
      if (n === 0) first = performance.now();
      n += tokens.length;
    },
  });
  const end = performance.now();
  completion.dispose();
  await context.dispose();
  return { ttftMs: first - t0, decodeTps: n > 1 ? ((n - 1) * 1000) / (end - first) : 0 };
}
