/**
 * Prometheus metrics (prom-client), named like vLLM's (`vllm:` becomes `inferd:`), so existing
 * dashboards need only the prefix changed. Request figures come from each request's usage
 * record (any provider); gauges and cache counters from the models running on this machine.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Gateway } from "../gateway/gateway.js";
import type { FinishReason, LocalLoad, Usage } from "../providers/provider.js";

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

  constructor(gateway: Gateway) {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: (l: LocalLoad) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["model_name"],
        registers,
        collect() {
          // every local model, loaded or not: an unloaded one runs nothing
          for (const r of gateway.models()) {
            if (r.provider.load === undefined) continue;
            const l = r.provider.load(r.model);
            this.set({ model_name: r.name }, l === undefined ? 0 : read(l));
          }
        },
      });
    gauge("inferd:num_requests_running", "Requests holding a sequence in the running batch.", (l) => l.running);
    gauge("inferd:num_requests_waiting", "Requests waiting for a sequence.", (l) => l.waiting);
    gauge("inferd:kv_cache_usage_perc", "KV-cache usage: share of KV cells held by running requests (1 means 100%; cached prefixes are evictable and not counted).", (l) => l.kvUsage);
    new Gauge({
      name: "inferd:upstream_circuit_open",
      help: "1 while an upstream's circuit breaker is open (calls refused at once), 0.5 half-open, 0 closed.",
      labelNames: ["provider"],
      registers,
      collect() {
        for (const p of new Set(gateway.models().map((r) => r.provider))) {
          const c = p.circuit?.();
          if (c !== undefined) this.set({ provider: p.name }, c === "open" ? 1 : c === "half-open" ? 0.5 : 0);
        }
      },
    });
    // counters the engines keep (prefix cache, speculative decoding), read when scraped
    const engineCounter = (name: string, help: string, read: (l: LocalLoad) => number) => {
      const seen = new Map<string, number>();
      return new Counter({
        name,
        help,
        labelNames: ["model_name"],
        registers,
        collect() {
          for (const { name: model, load } of gateway.loads()) {
            const now = read(load);
            const before = seen.get(model) ?? 0;
            if (now > before) this.inc({ model_name: model }, now - before);
            // a reloaded engine counts from 0 again
            seen.set(model, now);
          }
        },
      });
    };
    engineCounter("inferd:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", (l) => l.prefixCache.queries);
    engineCounter("inferd:prefix_cache_hits", "Prompt tokens found in the prefix cache (not recomputed).", (l) => l.prefixCache.hits);
    engineCounter("inferd:spec_decode_num_draft_tokens", "Draft tokens proposed for verification.", (l) => l.spec?.proposed ?? 0);
    engineCounter("inferd:spec_decode_num_accepted_tokens", "Draft tokens the target accepted.", (l) => l.spec?.accepted ?? 0);
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
  record(model: string, u: Usage, finish: FinishReason): void {
    const l = { model_name: model };
    this.promptTokens.inc(l, u.inputTokens);
    this.generationTokens.inc(l, u.outputTokens);
    this.requests.inc({ model_name: model, finished_reason: finish });
    const t = u.timing;
    if (t.firstTokenMs !== undefined) this.ttft.observe(l, t.firstTokenMs / 1000);
    if (u.outputTokens > 1 && t.firstTokenMs !== undefined) this.itl.observe(l, (t.totalMs - t.firstTokenMs) / (u.outputTokens - 1) / 1000);
    this.e2e.observe(l, t.totalMs / 1000);
    this.queue.observe(l, t.queuedMs / 1000);
  }
}
