/**
 * `npm run bench -- prefix`: automatic prefix caching, on vs off, side by side in one run, both
 * through `inferd serve` (its own process) and `inferd bench serve`'s client:
 * (1) vLLM's prefix-repetition load (shared prefixes, unique suffixes, shuffled): prompt tokens
 *     computed vs received (from /metrics), TTFT and throughput;
 * (2) multi-turn chat: conversations of N turns, each turn resending the whole history; the
 *     TTFT of every turn.
 */
import { mkdtempSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../src/index.js";
import { endpointUrl, runBenchServe, type BenchServeOptions } from "../src/loadgen/bench-serve.js";
import { sendRequest } from "../src/loadgen/client.js";
import { randomWords } from "../src/loadgen/datasets.js";
import { mulberry32, shuffle } from "../src/loadgen/rng.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { startServer, stopServer } from "./server-process.js";
import { fmt, median, printTable } from "./table.js";
import { ensureLlamaBench, llamaBenchMs, type LlamaBenchCase } from "./llama-bench.js";

export interface PrefixBenchOptions {
  model: string;
  threads: number;
  numPrompts: number;
  concurrency: number;
  turns: number;
  conversations: number;
  /** Conversations running at the same time (the rest wait for one to end). */
  conversationsAtOnce: number;
  /** "floor": in process, a cold 1,280-token prompt vs 256 new tokens after 1,024 cached (the TTFT ratio's ceiling). */
  /** "schedule": in process, the step target off vs 256 on the same load, runs in ABBA order. */
  /** "peer": both targets' compute alone, inferd in process beside llama.cpp's llama-bench. */
  parts: PrefixPart[];
  /** The server's --batch-size (tokens per step); its default when undefined. */
  batchSize?: number;
  /** The server's --step-tokens; its default when undefined. */
  stepTokens?: number;
  /** Pairs of runs of the "schedule" part. */
  repeats: number;
  /** Context window per sequence of the server (default 2048). */
  contextSize: number;
  /** Cache modes to run (both by default). */
  modes: Mode[];
}

export type Mode = "on" | "off";
export type PrefixPart = "repetition" | "multiturn" | "floor" | "schedule" | "peer";

export async function prefixBench(o: PrefixBenchOptions): Promise<void> {
  const path = await ensureSyntheticModel(o.model);
  const rows: (string | number)[][] = [];
  const turnRows: (string | number)[][] = [];
  const turnTtft: Record<Mode, Turn[][]> = { on: [], off: [] };
  if (o.parts.includes("floor")) {
    const [cold, cached] = await attentionFloor(path, o.threads, [{ cached: 0, computed: 1280 }, { cached: 1024, computed: 256 }]);
    console.log(`\nin process, ${o.threads} threads, median of 3: cold 1280-token prompt ${fmt(cold!, 0)} ms, 256 tokens after 1024 cached ${fmt(cached!, 0)} ms: off/on ${fmt(cold! / cached!, 2)}x\n`);
  }
  if (o.parts.includes("schedule")) await stepTargetAb(path, o);
  if (o.parts.includes("peer")) await peerFloor(path, o);
  if (!o.parts.includes("repetition") && !o.parts.includes("multiturn")) return;
  for (const mode of o.modes) {
    // a fresh, empty tier folder: nothing carried over between modes or runs
    const flags = mode === "off" ? ["--no-prefix-cache"] : ["--kv-tier-dir", mkdtempSync(join(tmpdir(), "inferd-kv-bench-"))];
    if (o.batchSize !== undefined) flags.push("--batch-size", String(o.batchSize));
    if (o.stepTokens !== undefined) flags.push("--step-tokens", String(o.stepTokens));
    const server = await startServer(path, ["--threads", String(o.threads), "--max-sequences", String(Math.max(8, o.concurrency)), "--context", String(o.contextSize), ...flags]);
    try {
      if (o.parts.includes("repetition")) {
        const opts: BenchServeOptions = {
          baseUrl: server.base, endpoint: "/v1/completions", model: server.model, dataset: "prefix-repetition",
          numPrompts: o.numPrompts, randomInputLen: 0, randomOutputLen: 128, prefixLen: 1024, numPrefixes: 10,
          suffixLen: 256, seed: 1, requestRate: Infinity, maxConcurrency: o.concurrency, initialTest: false,
        };
        const before = await prefixCounters(server.base);
        const r = await runBenchServe(opts);
        const after = await prefixCounters(server.base);
        const received = r.metrics.totalInputTokens;
        const computed = received - (after.hits - before.hits);
        console.error(`  prefix-repetition cache ${mode}: ${computed}/${received} prompt tokens computed, TTFT p50 ${fmt(r.metrics.ttft.median, 0)} ms`);
        rows.push([mode, r.metrics.completed, r.metrics.failed, received, computed, fmt(computed / received, 3), fmt(r.metrics.ttft.median, 0), fmt(r.metrics.ttft.p99, 0), fmt(r.metrics.outputThroughput), fmt(r.metrics.durationS, 0)]);
      }
      if (o.parts.includes("multiturn")) turnTtft[mode] = await multiTurn(server, o);
    } finally {
      await stopServer(server.proc);
    }
  }
  console.log(`\n${o.model}, ${o.threads} threads, server with ${Math.max(8, o.concurrency)} running sequences (+ as many cached), context ${o.contextSize}\n`);
  if (rows.length > 0) {
    console.log(`prefix-repetition: ${o.numPrompts} requests, 10 prefixes x 1024 tokens, 256-token unique suffixes, 128 output tokens, shuffled, ${o.concurrency} concurrent\n`);
    printTable(["cache", "ok", "failed", "prompt tokens received", "computed", "computed/received", "TTFT p50 ms", "TTFT p99 ms", "out tok/s", "duration s"], rows);
    const on = rows.find((r) => r[0] === "on");
    const off = rows.find((r) => r[0] === "off");
    if (on && off) console.log(`\nTTFT p50 off/on: ${fmt(Number(off[6]) / Number(on[6]), 2)}x\n`);
  }
  if (turnTtft.on.length > 0) {
    const at = (mode: Mode, t: number, f: (x: Turn) => number) => median(turnTtft[mode].map((c) => f(c[t]!)));
    const shape = Array.from({ length: o.turns }, (_, t) => ({
      cached: Math.round(at("on", t, (x) => x.cachedTokens)),
      computed: Math.round(at("on", t, (x) => x.promptTokens - x.cachedTokens)),
    }));
    const floor = await attentionFloor(path, o.threads, shape, o.contextSize);
    for (let t = 0; t < o.turns; t++) {
      const on = at("on", t, (x) => x.ttftMs);
      turnRows.push([
        t + 1,
        fmt(at("on", t, (x) => x.promptTokens), 0),
        shape[t]!.computed,
        fmt(on, 0),
        fmt(at("off", t, (x) => x.ttftMs), 0),
        fmt(on / at("on", 0, (x) => x.ttftMs), 2),
        fmt(floor[t]! / floor[0]!, 2),
      ]);
    }
    console.log(`multi-turn chat: ${o.conversations} conversations, ${o.conversationsAtOnce} at a time, ${o.turns} turns, ~150-word user turns, 64-token answers; medians per turn`);
    console.log(`floor: in-process, the same number of new tokens computed after the same number of cached ones (median of 3), relative to turn 1: the cost of attending over the history, which no cache removes\n`);
    printTable(["turn", "prompt tokens", "computed (cache on)", "TTFT ms cache on", "TTFT ms cache off", "on: turn / turn 1", "floor: turn / turn 1"], turnRows);
  }
}

/**
 * The prefix-repetition load in process (no HTTP), `o.concurrency` at once, with steps that
 * take prompt chunks up to the whole budget vs up to 256 tokens, in ABBA order over `o.repeats`
 * pairs (runs here slow down after a burst of work, so a fixed order would favour the first
 * kind): TTFT p50 of the requests that found their prefix cached, of all
 * requests, and output throughput. Fresh engines each run, so every run starts cold.
 */
async function stepTargetAb(path: string, o: PrefixBenchOptions): Promise<void> {
  const rng = mulberry32(7);
  const tok = () => 1000 + Math.floor(rng() * 40000);
  const prefixes = Array.from({ length: 10 }, () => Array.from({ length: 1024 }, tok));
  const order = shuffle(rng, Array.from({ length: o.numPrompts }, (_, i) => i % 10));
  const prompts = order.map((k) => [...prefixes[k]!, ...Array.from({ length: 256 }, tok)]);
  const rows: (string | number)[][] = [];
  for (let r = 0; r < o.repeats * 2; r++) {
    const target = r % 4 === 0 || r % 4 === 3 ? undefined : 256; // A B B A
    const engine = await Engine.load({
      model: path, threads: o.threads, contextSize: o.contextSize, maxSequences: Math.max(8, o.concurrency), kvTierBytes: 0,
      batchSize: o.batchSize, stepTargetTokens: target,
    });
    const done: { ttft: number; cached: number }[] = [];
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < prompts.length) {
        const prompt = prompts[next++]!;
        const start = performance.now();
        let ttft = NaN, cached = 0;
        for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens: 128, ignoreEos: true })) {
          if (ev.type === "delta" && Number.isNaN(ttft)) ttft = performance.now() - start;
          if (ev.type === "done") cached = ev.stats.cachedTokens;
        }
        done.push({ ttft, cached });
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    const seconds = (performance.now() - t0) / 1000;
    await engine.dispose();
    const warm = done.filter((d) => d.cached >= 1024).map((d) => d.ttft);
    rows.push([r + 1, target === undefined ? "whole budget" : "256 tokens", fmt(median(warm), 0), fmt(median(done.map((d) => d.ttft)), 0), fmt((prompts.length * 128) / seconds)]);
  }
  console.log(`\nin process, prefix-repetition, ${o.numPrompts} requests, ${o.concurrency} at once, ${o.threads} threads: steps take prompt chunks up to the whole budget (${o.batchSize ?? 512}) or up to 256 tokens\n`);
  printTable(["run", "prompt chunks per step", "TTFT p50 ms, cached prefix", "TTFT p50 ms, all", "out tok/s"], rows);
}

/** The first token of `computed` new tokens after `cached` tokens already in KV. */
interface FloorCase {
  cached: number;
  computed: number;
}

/**
 * Each case's time to first token in an in-process engine (no HTTP), median of `repeats`, on
 * fresh tokens each time. The cases take turns within each round, so this machine's drift over
 * minutes hits all of them alike.
 */
async function attentionFloor(path: string, threads: number, cases: FloorCase[], contextSize = 2048, repeats = 3): Promise<number[]> {
  const engine = await Engine.load({ model: path, threads, contextSize, maxSequences: 2, kvTierBytes: 0 });
  const tokens = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 1000 + ((i * 7919 + seed * 104729) % 20000));
  const ttft = async (prompt: number[]) => {
    const t0 = performance.now();
    for await (const _ of engine.generate(prompt, { temperature: 0, maxTokens: 1 }));
    return performance.now() - t0;
  };
  try {
    // a fresh engine's first step is slower, whatever it computes
    await ttft(tokens(64, 0));
    const runs: number[][] = cases.map(() => []);
    let seed = 0;
    for (let rep = 0; rep < repeats; rep++) {
      for (const [i, { cached, computed }] of cases.entries()) {
        seed += 2;
        const history = tokens(cached, seed);
        // untimed first: the history, so the timed request finds it cached; without one, a short
        // prompt anyway, so every timed request follows a step of this engine, not an idle spell
        await ttft(cached > 0 ? history : tokens(16, seed));
        runs[i]!.push(await ttft([...history, ...tokens(computed, seed + 1)]));
      }
    }
    return runs.map(median);
  } finally {
    await engine.dispose();
  }
}

/**
 * What the targets allow at all: the time to compute the uncached tokens, which is all a
 * perfect cache leaves, in inferd (in process) and in llama.cpp's llama-bench on the same model
 * and threads, medians of 5 rounds in which every case takes its turn. Case pairs: the
 * prefix-repetition request cold vs with its 1,024-token prefix cached (TTFT target: >= 4x),
 * and the multi-turn bench's turn 1 vs turn 8 (target: <= 1.5x).
 */
async function peerFloor(path: string, o: PrefixBenchOptions): Promise<void> {
  const bin = ensureLlamaBench();
  const pairs: { name: string; target: string; a: LlamaBenchCase; b: LlamaBenchCase }[] = [
    { name: "prefix-repetition, cold / prefix cached", target: ">= 4", a: { prompt: 1280, depth: 0 }, b: { prompt: 256, depth: 1024 } },
    // the token counts of smollm2's turns 8 and 1 in the multiturn part (other tokenizers differ by a few)
    { name: "multi-turn, turn 8 / turn 1", target: "<= 1.5", a: { prompt: 161, depth: 1726 }, b: { prompt: 158, depth: 0 } },
  ];
  const cases = pairs.flatMap((p) => [p.a, p.b]);
  // inferd's rounds, then llama-bench's, so neither process runs between two of the other's
  // timings (an earlier version that alternated them slowed inferd's short cold case)
  const ours = await attentionFloor(path, o.threads, cases.map((c) => ({ cached: c.depth, computed: c.prompt })), o.contextSize, 5);
  const peerRuns: number[][] = cases.map(() => []);
  for (let rep = 0; rep < 5; rep++) for (const [i, c] of cases.entries()) peerRuns[i]!.push(llamaBenchMs(bin, path, o.threads, c));
  const peer = peerRuns.map(median);
  const at = (xs: number[], c: LlamaBenchCase) => xs[cases.indexOf(c)]!;
  const rows = cases.map((c) => [c.prompt, c.depth, fmt(at(peer, c), 0), fmt(at(ours, c), 0), fmt(at(ours, c) / at(peer, c), 2)]);
  const ratios = pairs.map((p) => [p.name, p.target, fmt(at(peer, p.a) / at(peer, p.b), 2), fmt(at(ours, p.a) / at(ours, p.b), 2)]);
  console.log(`\n${o.model}, ${o.threads} threads, flash attention, batch 512: time to compute N tokens after D cached, llama.cpp's llama-bench and inferd in process, medians of 5 rounds\n`);
  printTable(["computed N", "cached D", "llama-bench ms", "inferd ms", "inferd / llama-bench"], rows);
  console.log("");
  printTable(["ratio", "target", "llama-bench", "inferd"], ratios);
}

interface Turn {
  ttftMs: number;
  promptTokens: number;
  cachedTokens: number;
}

/**
 * Conversations that resend the whole history each turn, `conversationsAtOnce` at a time;
 * returns each turn of each conversation.
 */
async function multiTurn(server: { base: string; model: string }, o: PrefixBenchOptions): Promise<Turn[][]> {
  const agent = new Agent({ keepAlive: true });
  const url = endpointUrl(server.base, "/v1/chat/completions");
  const conversation = async (c: number): Promise<Turn[]> => {
    const rng = mulberry32(1000 + c);
    const messages: { role: "user" | "assistant"; content: string }[] = [];
    const turns: Turn[] = [];
    for (let t = 0; t < o.turns; t++) {
      messages.push({ role: "user", content: randomWords(rng, 150) });
      const r = await sendRequest({ url, endpoint: "/v1/chat/completions", model: server.model, prompt: "", messages: [...messages], maxTokens: 64, agent });
      if (!r.ok) throw new Error(`turn ${t + 1}: ${r.error}`);
      turns.push({ ttftMs: r.ttftMs, promptTokens: r.promptTokens ?? NaN, cachedTokens: r.cachedTokens ?? 0 });
      messages.push({ role: "assistant", content: r.generatedText });
    }
    return turns;
  };
  // untimed: a fresh server measures its thread counts on its first steps, which would slow turn 1 only
  const warm = await sendRequest({ url, endpoint: "/v1/chat/completions", model: server.model, prompt: "", messages: [{ role: "user", content: randomWords(mulberry32(1), 150) }], maxTokens: 64, agent });
  if (!warm.ok) throw new Error(`warm-up: ${warm.error}`);
  const out: Turn[][] = [];
  let next = 0;
  const worker = async () => {
    while (next < o.conversations) {
      const c = next++;
      out[c] = await conversation(c);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.conversationsAtOnce, o.conversations)) }, worker));
  agent.destroy();
  return out;
}

async function prefixCounters(base: string): Promise<{ queries: number; hits: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)`, "m").exec(text)?.[1] ?? 0);
  return { queries: read("inferd:prefix_cache_queries"), hits: read("inferd:prefix_cache_hits") };
}
