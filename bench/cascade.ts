/**
 * `npm run bench -- cascade`: what a cascade costs in latency. A streaming client of a cascade
 * gets its first byte only once the small model's whole answer is judged; an escalated request
 * then waits for the large model's first token too. This measures, one request at a time over
 * HTTP, TTFT and end-to-end of: the small model alone, a cascade that accepts on its checks
 * alone (threshold 0: no logprobs asked), one that accepts on confidence (threshold 1e-9: the
 * small call computes logprobs), the large model alone, a cascade that escalates (threshold 1). The outcome is forced by the
 * threshold, so random-weight models of realistic shape measure it honestly (speed does not
 * depend on weight values).
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { buildGateway } from "../src/config/build.js";
import { loadConfig } from "../src/config/load.js";
import { createApp } from "../src/server/app.js";
import { fmt, median, percentile, printTable } from "./table.js";

export interface CascadeBenchOptions {
  small: string;
  large: string;
  outputTokens: number;
  repeats: number;
  threads: number;
}

async function streamed(base: string, model: string, prompt: string, maxTokens: number): Promise<{ ttft: number; total: number; route: string }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, ignore_eos: true }),
  });
  if (res.status !== 200) throw new Error(`${model}: ${res.status} ${await res.text()}`);
  let ttft = NaN;
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    // the first chunk with text
    if (Number.isNaN(ttft) && /"text":"[^"]/.test(buf)) ttft = performance.now() - t0;
  }
  return { ttft, total: performance.now() - t0, route: res.headers.get("x-inferd-route") ?? "-" };
}

export async function cascadeBench(o: CascadeBenchOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "inferd-bench-cascade-"));
  const path = join(dir, "inferd.yaml");
  await writeFile(
    path,
    [
      "ledger: false",
      "models:",
      `  - { name: small, provider: local, model: "${o.small}", threads: ${o.threads} }`,
      `  - { name: large, provider: local, model: "${o.large}", threads: ${o.threads} }`,
      "routes:",
      "  - { name: accepts-checks-only, policy: cascade, candidates: [small, large], cascade: { threshold: 0 } }",
      // any answer's 10th-percentile token probability is above 1e-9: accepted, but judged on logprobs
      "  - { name: accepts, policy: cascade, candidates: [small, large], cascade: { threshold: 0.000000001 } }",
      "  - { name: escalates, policy: cascade, candidates: [small, large], cascade: { threshold: 1 } }",
      "",
    ].join("\n"),
  );
  const gateway = buildGateway(await loadConfig(path), { threads: o.threads });
  const app = createApp({ gateway });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const prompt = "The history of the city begins with a small settlement on the river, where traders met to exchange goods and news from distant lands.";
  const systems = ["small", "accepts-checks-only", "accepts", "large", "escalates"] as const;
  const runs = new Map<string, { ttft: number[]; total: number[]; route: string }>(systems.map((s) => [s, { ttft: [], total: [], route: "-" }]));
  try {
    // both models loaded and warm before timing
    for (const s of systems) await streamed(base, s, prompt, 8);
    // interleaved rounds: drift over the run lands on every system alike
    for (let r = 0; r < o.repeats; r++) {
      for (const s of systems) {
        const m = await streamed(base, s, prompt, o.outputTokens);
        const run = runs.get(s)!;
        run.ttft.push(m.ttft);
        run.total.push(m.total);
        run.route = m.route.replace(/; confidence=[^;]*/, "").replace(/; reason=.*/, "");
      }
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await gateway.close();
  }
  console.log(`\ncascade latency, one streamed request at a time, ${o.outputTokens} output tokens, ${o.repeats} rounds; small ${o.small}, large ${o.large}, ${o.threads} threads\n`);
  const smallTtft = median(runs.get("small")!.ttft);
  const largeTtft = median(runs.get("large")!.ttft);
  printTable(
    ["system", "route", "TTFT p50 ms", "TTFT p90 ms", "end-to-end p50 ms", "TTFT vs model alone"],
    systems.map((s) => {
      const r = runs.get(s)!;
      const alone = s.startsWith("accepts") ? smallTtft : s === "escalates" ? largeTtft : median(r.ttft);
      return [s, r.route, fmt(median(r.ttft)), fmt(percentile(r.ttft, 90)), fmt(median(r.total)), `${fmt(median(r.ttft) / alone, 2)}x`];
    }),
  );
}
