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
import { endpointUrl, runBenchServe, type BenchServeOptions } from "../src/loadgen/bench-serve.js";
import { sendRequest } from "../src/loadgen/client.js";
import { randomWords } from "../src/loadgen/datasets.js";
import { mulberry32 } from "../src/loadgen/rng.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { startServer, stopServer } from "./server-process.js";
import { fmt, median, printTable } from "./table.js";

export interface PrefixBenchOptions {
  model: string;
  threads: number;
  numPrompts: number;
  concurrency: number;
  turns: number;
  conversations: number;
  parts: ("repetition" | "multiturn")[];
}

type Mode = "on" | "off";

export async function prefixBench(o: PrefixBenchOptions): Promise<void> {
  const path = await ensureSyntheticModel(o.model);
  const rows: (string | number)[][] = [];
  const turnRows: (string | number)[][] = [];
  const turnTtft: Record<Mode, number[][]> = { on: [], off: [] };
  for (const mode of ["on", "off"] as Mode[]) {
    // a fresh, empty tier folder: nothing carried over between modes or runs
    const flags = mode === "off" ? ["--no-prefix-cache"] : ["--kv-tier-dir", mkdtempSync(join(tmpdir(), "inferd-kv-bench-"))];
    const server = await startServer(path, ["--threads", String(o.threads), "--max-sequences", String(Math.max(8, o.concurrency)), "--context", "2048", ...flags]);
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
  console.log(`\n${o.model}, ${o.threads} threads, server with ${Math.max(8, o.concurrency)} running sequences (+ as many cached)\n`);
  if (rows.length > 0) {
    console.log(`prefix-repetition: ${o.numPrompts} requests, 10 prefixes x 1024 tokens, 256-token unique suffixes, 128 output tokens, shuffled, ${o.concurrency} concurrent\n`);
    printTable(["cache", "ok", "failed", "prompt tokens received", "computed", "computed/received", "TTFT p50 ms", "TTFT p99 ms", "out tok/s", "duration s"], rows);
    const on = rows.find((r) => r[0] === "on");
    const off = rows.find((r) => r[0] === "off");
    if (on && off) console.log(`\nTTFT p50 off/on: ${fmt(Number(off[6]) / Number(on[6]), 2)}x\n`);
  }
  if (turnTtft.on.length > 0) {
    for (let t = 0; t < o.turns; t++) {
      const on = median(turnTtft.on.map((c) => c[t]!));
      const off = median(turnTtft.off.map((c) => c[t]!));
      turnRows.push([t + 1, fmt(on, 0), fmt(off, 0), fmt(on / median(turnTtft.on.map((c) => c[0]!)), 2)]);
    }
    console.log(`multi-turn chat: ${o.conversations} conversations at once, ${o.turns} turns, ~150-word user turns, 64-token answers; median TTFT per turn\n`);
    printTable(["turn", "TTFT ms cache on", "TTFT ms cache off", "on: turn / turn 1"], turnRows);
  }
}

/** Conversations that resend the whole history each turn; returns TTFT per turn per conversation. */
async function multiTurn(server: { base: string; model: string }, o: PrefixBenchOptions): Promise<number[][]> {
  const agent = new Agent({ keepAlive: true });
  const url = endpointUrl(server.base, "/v1/chat/completions");
  const convs = Array.from({ length: o.conversations }, async (_, c) => {
    const rng = mulberry32(1000 + c);
    const messages: { role: "user" | "assistant"; content: string }[] = [];
    const ttft: number[] = [];
    for (let t = 0; t < o.turns; t++) {
      messages.push({ role: "user", content: randomWords(rng, 150) });
      const r = await sendRequest({ url, endpoint: "/v1/chat/completions", model: server.model, prompt: "", messages: [...messages], maxTokens: 64, agent });
      if (!r.ok) throw new Error(`turn ${t + 1}: ${r.error}`);
      ttft.push(r.ttftMs);
      messages.push({ role: "assistant", content: r.generatedText });
    }
    return ttft;
  });
  const out = await Promise.all(convs);
  agent.destroy();
  return out;
}

async function prefixCounters(base: string): Promise<{ queries: number; hits: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)`, "m").exec(text)?.[1] ?? 0);
  return { queries: read("inferd:prefix_cache_queries"), hits: read("inferd:prefix_cache_hits") };
}
