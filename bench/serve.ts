/**
 * `npm run bench -- serve`: what the HTTP layer costs. The same prompts at the same
 * concurrency, side by side in one run: (1) in process, straight into `Engine.generate`;
 * (2) through `inferd serve` in its own process, driven by `inferd bench serve`'s client (SSE,
 * usage chunk, everything a real client does). Same model file, same threads, same KV layout.
 */
import { Engine } from "../src/index.js";
import { Semaphore } from "../src/loadgen/arrivals.js";
import { buildDataset, runBenchServe, type BenchServeOptions } from "../src/loadgen/bench-serve.js";
import type { BenchRequest } from "../src/loadgen/datasets.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { startServer, stopServer } from "./server-process.js";
import { fmt, median, percentile, printTable } from "./table.js";

export interface ServeBenchOptions {
  model: string;
  threads: number;
  concurrency: number[];
  inputLen: number;
  outputLen: number;
  /** Requests per concurrency level = max(minPrompts, 2 x concurrency). */
  minPrompts: number;
  repeats: number;
}

interface Figures {
  outTps: number;
  ttftP50: number;
  tpotP50: number;
}

export async function serveBench(o: ServeBenchOptions): Promise<void> {
  const path = o.model.startsWith("synthetic:") ? await ensureSyntheticModel(o.model) : o.model;
  const maxC = Math.max(...o.concurrency);
  const contextSize = o.inputLen * 2 + o.outputLen + 64;
  const engine = await Engine.load({ model: path, threads: o.threads, maxSequences: maxC, contextSize });
  const server = await startServer(path, ["--threads", String(o.threads), "--max-sequences", String(maxC), "--context", String(contextSize)]);
  const rows: (string | number)[][] = [];
  try {
    for (const c of o.concurrency) {
      const opts: BenchServeOptions = {
        baseUrl: server.base,
        endpoint: "/v1/completions",
        model: server.model,
        dataset: "random",
        numPrompts: Math.max(o.minPrompts, 2 * c),
        randomInputLen: o.inputLen,
        randomOutputLen: o.outputLen,
        prefixLen: 0,
        numPrefixes: 1,
        suffixLen: 0,
        seed: c,
        requestRate: Infinity,
        maxConcurrency: c,
      };
      const requests = buildDataset(opts);
      const inProc: Figures[] = [];
      const http: Figures[] = [];
      // alternate the two so drift on the machine hits both alike
      for (let r = 0; r < o.repeats; r++) {
        inProc.push(await runInProcess(engine, requests, c));
        const h = await runBenchServe({ ...opts, initialTest: r === 0 });
        if (h.metrics.failed > 0) throw new Error(`HTTP run failed: ${JSON.stringify(h.metrics.errors)}`);
        http.push({ outTps: h.metrics.outputThroughput, ttftP50: h.metrics.ttft.median, tpotP50: h.metrics.tpot.median });
        console.error(`  C=${c} run ${r + 1}: in-process ${fmt(inProc.at(-1)!.outTps)} tok/s, HTTP ${fmt(http.at(-1)!.outTps)} tok/s`);
      }
      const a = best(inProc);
      const b = best(http);
      const paired = median(http.map((h, i) => h.outTps / inProc[i]!.outTps));
      rows.push([c, opts.numPrompts, fmt(a.outTps), fmt(b.outTps), fmt(b.outTps / a.outTps, 3), fmt(paired, 3), fmt(a.ttftP50, 0), fmt(b.ttftP50, 0), fmt(a.tpotP50), fmt(b.tpotP50)]);
    }
  } finally {
    await stopServer(server.proc);
    await engine.dispose();
  }
  console.log(`\n${o.model}, ${o.threads} threads, random prompts of ~${o.inputLen} tokens, ${o.outputLen} output tokens, best of ${o.repeats}\n`);
  printTable(
    ["concurrency", "requests", "in-process out tok/s", "HTTP out tok/s", "HTTP/in-process (best)", "median of paired ratios", "TTFT p50 ms in-proc", "TTFT p50 ms HTTP", "TPOT p50 ms in-proc", "TPOT p50 ms HTTP"],
    rows,
  );
}

/** The run with the highest throughput: noise on this machine only ever slows a run down. */
function best(runs: Figures[]): Figures {
  return runs.reduce((a, b) => (b.outTps > a.outTps ? b : a));
}

/** The same requests straight into the engine, at most `c` at once, all arriving at t=0. */
async function runInProcess(engine: Engine, requests: BenchRequest[], c: number): Promise<Figures> {
  const sem = new Semaphore(c);
  const ttft: number[] = [];
  const tpot: number[] = [];
  let out = 0;
  const t0 = performance.now();
  await Promise.all(
    requests.map(async (req) => {
      await sem.acquire();
      try {
        for await (const ev of engine.generate(req.prompt, { temperature: 0, maxTokens: req.outputLen, ignoreEos: true })) {
          if (ev.type !== "done") continue;
          out += ev.stats.outputTokens;
          ttft.push(ev.stats.timeToFirstTokenMs); // from the generate call, as HTTP's is from the request
          tpot.push(ev.stats.timePerOutputTokenMs);
        }
      } finally {
        sem.release();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { outTps: out / seconds, ttftP50: percentile(ttft, 50), tpotP50: percentile(tpot, 50) };
}
