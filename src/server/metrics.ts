/**
 * Prometheus metrics (prom-client), named like vLLM's (`vllm:` becomes `inferd:`), so existing
 * dashboards need only the prefix changed.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine } from "../index.js";
import type { RequestRecord } from "./choices.js";

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export class Metrics {
  readonly registry = new Registry();
  private readonly promptTokens: Counter<"model_name">;
  private readonly generationTokens: Counter<"model_name">;
  private readonly requests: Counter<"model_name" | "finished_reason">;
  private readonly ttft: Histogram<"model_name">;
  private readonly itl: Histogram<"model_name">;
  private readonly e2e: Histogram<"model_name">;
  private readonly queue: Histogram<"model_name">;

  constructor(engines: ReadonlyMap<string, Engine>) {
    const registers = [this.registry];
    new Gauge({
      name: "inferd:num_requests_running",
      help: "Requests holding a sequence in the running batch.",
      labelNames: ["model_name"],
      registers,
      collect() {
        for (const [name, e] of engines) this.set({ model_name: name }, e.load.running);
      },
    });
    new Gauge({
      name: "inferd:num_requests_waiting",
      help: "Requests waiting for a sequence.",
      labelNames: ["model_name"],
      registers,
      collect() {
        for (const [name, e] of engines) this.set({ model_name: name }, e.load.waiting);
      },
    });
    new Gauge({
      name: "inferd:kv_cache_usage_perc",
      help: "KV-cache usage: share of KV cells held by running requests (1 means 100%; cached prefixes are evictable and not counted).",
      labelNames: ["model_name"],
      registers,
      collect() {
        for (const [name, e] of engines) this.set({ model_name: name }, e.kvUsage);
      },
    });
    // counters the engines keep (prefix cache, speculative decoding), read when scraped
    const engineCounter = (name: string, help: string, read: (e: Engine) => number) => {
      const seen = new Map<string, number>();
      return new Counter({
        name,
        help,
        labelNames: ["model_name"],
        registers,
        collect() {
          for (const [model, e] of engines) {
            const now = read(e);
            const before = seen.get(model) ?? 0;
            if (now > before) this.inc({ model_name: model }, now - before);
            seen.set(model, now);
          }
        },
      });
    };
    engineCounter("inferd:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", (e) => e.prefixCacheStats.queries);
    engineCounter("inferd:prefix_cache_hits", "Prompt tokens found in the prefix cache (not recomputed).", (e) => e.prefixCacheStats.hits);
    engineCounter("inferd:spec_decode_num_draft_tokens", "Draft tokens proposed for verification.", (e) => e.specStats?.proposed ?? 0);
    engineCounter("inferd:spec_decode_num_accepted_tokens", "Draft tokens the target accepted.", (e) => e.specStats?.accepted ?? 0);
    this.promptTokens = new Counter({ name: "inferd:prompt_tokens_total", help: "Prompt tokens received.", labelNames: ["model_name"], registers });
    this.generationTokens = new Counter({ name: "inferd:generation_tokens_total", help: "Tokens generated.", labelNames: ["model_name"], registers });
    this.requests = new Counter({ name: "inferd:request_success_total", help: "Finished requests by finish reason.", labelNames: ["model_name", "finished_reason"], registers });
    const h = (name: string, help: string) => new Histogram({ name, help, labelNames: ["model_name"], buckets: LATENCY_BUCKETS, registers });
    this.ttft = h("inferd:time_to_first_token_seconds", "Time from arrival to the first generated token.");
    this.itl = h("inferd:inter_token_latency_seconds", "Mean time between generated tokens, per request.");
    this.e2e = h("inferd:e2e_request_latency_seconds", "Time from arrival to the last token.");
    this.queue = h("inferd:request_queue_time_seconds", "Time waiting before the first token was computed.");
  }

  /** Records a finished request (one per request, whatever its n; aborted ones too). */
  record(model: string, r: RequestRecord): void {
    const l = { model_name: model };
    this.promptTokens.inc(l, r.promptTokens);
    this.generationTokens.inc(l, r.outputTokens);
    this.requests.inc({ model_name: model, finished_reason: r.finishReason });
    if (r.timeToFirstTokenMs !== undefined) this.ttft.observe(l, r.timeToFirstTokenMs / 1000);
    if (r.outputTokens > 1) this.itl.observe(l, r.timePerOutputTokenMs / 1000);
    this.e2e.observe(l, r.totalMs / 1000);
    this.queue.observe(l, r.queueMs / 1000);
  }
}
