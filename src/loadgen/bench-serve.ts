import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { InferdError } from "../util/errors.js";
import { arrivalOffsets, Semaphore, waitUntil } from "./arrivals.js";
import { sendRequest, type Endpoint, type RequestResult } from "./client.js";
import { prefixRepetitionDataset, randomDataset, type BenchRequest } from "./datasets.js";
import { computeMetrics, type BenchMetrics, type Slo } from "./report.js";
import { subRng } from "./rng.js";

/** The datasets `bench serve` can generate. */
export type DatasetName = "random" | "prefix-repetition";

/** Everything a run needs; the CLI fills it from flags. */
export interface BenchServeOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080` (a trailing `/v1` is accepted). */
  baseUrl: string;
  endpoint: Endpoint;
  model: string;
  apiKey?: string;
  dataset: DatasetName;
  numPrompts: number;
  randomInputLen: number;
  randomOutputLen: number;
  prefixLen: number;
  numPrefixes: number;
  suffixLen: number;
  seed: number;
  /** Requests per second (Poisson); Infinity sends all at once. */
  requestRate: number;
  /** Most requests in flight; Infinity = no cap. */
  maxConcurrency: number;
  goodput?: Slo;
  /** Send the first prompt once before timing and stop if it fails (default true), as vLLM does. */
  initialTest?: boolean;
  /** Called after each timed request completes. */
  onProgress?: (done: number, total: number) => void;
}

/** A finished run: aggregate figures plus each request and its result, in send order. */
export interface BenchServeResult {
  metrics: BenchMetrics;
  requests: BenchRequest[];
  results: RequestResult[];
}

/** Joins base URL and endpoint, so both `http://h:8080` and OpenAI-style `http://h:8080/v1` work. */
export function endpointUrl(baseUrl: string, endpoint: Endpoint): URL {
  let base = baseUrl.replace(/\/+$/, "");
  if (base.endsWith("/v1")) base = base.slice(0, -3);
  let url: URL;
  try {
    url = new URL(base + endpoint);
  } catch {
    throw new InferdError("invalid_argument", `invalid --url: ${JSON.stringify(baseUrl)} (must be like http://127.0.0.1:8080)`, { param: "url" });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InferdError("invalid_argument", `invalid --url: ${JSON.stringify(baseUrl)} (must be http:// or https://)`, { param: "url" });
  }
  return url;
}

/** The run's prompts, deterministic in the seed (the dataset draws from its own PRNG stream). */
export function buildDataset(o: BenchServeOptions): BenchRequest[] {
  const rng = subRng(o.seed, 0);
  return o.dataset === "random"
    ? randomDataset(rng, { numPrompts: o.numPrompts, inputLen: o.randomInputLen, outputLen: o.randomOutputLen })
    : prefixRepetitionDataset(rng, { numPrompts: o.numPrompts, numPrefixes: o.numPrefixes, prefixLen: o.prefixLen, suffixLen: o.suffixLen, outputLen: o.randomOutputLen });
}

/**
 * Runs the benchmark: requests leave on the arrival schedule, each then waits for a concurrency
 * slot (as vLLM does: the schedule is not slowed by the cap, requests queue client-side), and
 * the duration runs from the first send to the last completion.
 */
export async function runBenchServe(o: BenchServeOptions): Promise<BenchServeResult> {
  const url = endpointUrl(o.baseUrl, o.endpoint);
  const requests = buildDataset(o);
  const offsets = arrivalOffsets(subRng(o.seed, 1), requests.length, o.requestRate);
  // one keep-alive pool: a fresh TCP connection per request would add handshake time to TTFT
  const agent = url.protocol === "https:" ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = (req: BenchRequest) =>
    sendRequest({ url, endpoint: o.endpoint, model: o.model, prompt: req.prompt, maxTokens: req.outputLen, apiKey: o.apiKey, agent }).then((r) => {
      r.promptTokens ??= req.promptLen; // server gave no usage: fall back to the word count
      return r;
    });
  try {
    if ((o.initialTest ?? true) && requests.length > 0) {
      const test = await send(requests[0]!);
      if (!test.ok) throw new InferdError("invalid_argument", `initial test request to ${url} failed: ${test.error} (check --url, --endpoint, --model)`);
    }
    const sem = new Semaphore(o.maxConcurrency);
    const pending: Array<Promise<RequestResult>> = [];
    let done = 0;
    const start = performance.now();
    for (let i = 0; i < requests.length; i++) {
      await waitUntil(start, offsets[i]!);
      const req = requests[i]!;
      pending.push(
        sem.run(() => send(req)).then((r) => {
          o.onProgress?.(++done, requests.length);
          return r;
        }),
      );
    }
    const results = await Promise.all(pending);
    const metrics = computeMetrics(results, performance.now() - start, o.goodput);
    return { metrics, requests, results };
  } finally {
    agent.destroy();
  }
}

/**
 * The run as JSON, with vLLM's key names and units (aggregates in ms, per-request `ttfts` and
 * `itls` in seconds) so scripts written for `vllm bench serve --save-result` read it unchanged.
 */
export function resultJson(o: BenchServeOptions, r: BenchServeResult): Record<string, unknown> {
  const m = r.metrics;
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    backend: o.endpoint === "/v1/chat/completions" ? "openai-chat" : "openai",
    base_url: o.baseUrl,
    endpoint: o.endpoint,
    model_id: o.model,
    dataset_name: o.dataset,
    num_prompts: o.numPrompts,
    seed: o.seed,
    request_rate: Number.isFinite(o.requestRate) ? o.requestRate : "inf",
    max_concurrency: Number.isFinite(o.maxConcurrency) ? o.maxConcurrency : null,
    duration: m.durationS,
    completed: m.completed,
    failed: m.failed,
    total_input_tokens: m.totalInputTokens,
    total_output_tokens: m.totalOutputTokens,
    request_throughput: m.requestThroughput,
    request_goodput: m.requestGoodput ?? null,
    goodput_slo_ms: o.goodput ?? null,
    output_throughput: m.outputThroughput,
    total_token_throughput: m.totalTokenThroughput,
  };
  for (const [key, s] of [["ttft", m.ttft], ["tpot", m.tpot], ["itl", m.itl], ["e2el", m.e2el]] as const) {
    out[`mean_${key}_ms`] = s.mean;
    out[`median_${key}_ms`] = s.median;
    out[`std_${key}_ms`] = s.std;
    out[`p99_${key}_ms`] = s.p99;
  }
  out.input_lens = r.results.map((x) => (x.ok ? x.promptTokens : 0));
  out.output_lens = r.results.map((x) => (x.ok ? x.outputTokens : 0));
  out.ttfts = r.results.map((x) => x.ttftMs / 1000);
  out.itls = r.results.map((x) => x.itlMs.map((v) => v / 1000));
  out.generated_texts = r.results.map((x) => x.generatedText);
  out.errors = r.results.map((x) => x.error ?? "");
  return out;
}
