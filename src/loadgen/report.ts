import { InferdError } from "../util/errors.js";
import type { RequestResult } from "./client.js";

/** Mean, median, p99 and standard deviation of one latency, in ms. */
export interface Summary {
  mean: number;
  median: number;
  p99: number;
  std: number;
}

/** Service-level objectives for goodput, each in ms (absent = not checked). */
export interface Slo {
  ttftMs?: number;
  tpotMs?: number;
  e2elMs?: number;
}

/** The aggregate figures of a run, computed over successful requests only. */
export interface BenchMetrics {
  completed: number;
  failed: number;
  durationS: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  requestThroughput: number;
  /** Successful requests per second meeting every SLO; undefined when no SLO was given. */
  requestGoodput?: number;
  outputThroughput: number;
  totalTokenThroughput: number;
  ttft: Summary;
  tpot: Summary;
  itl: Summary;
  e2el: Summary;
  /** Distinct error messages of failed requests, with counts, most frequent first. */
  errors: Array<{ error: string; count: number }>;
}

/**
 * The p-th percentile (0..100) with linear interpolation between closest ranks: numpy's
 * default, which vLLM uses, so figures compare directly. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

/** Summary of `values`; all zeros when empty (as vLLM reports, and JSON has no NaN). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { mean: 0, median: 0, p99: 0, std: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { mean, median: percentile(values, 50), p99: percentile(values, 99), std: Math.sqrt(variance) };
}

const SLO_KEYS = { ttft: "ttftMs", tpot: "tpotMs", e2el: "e2elMs" } as const;

/** Parses `--goodput` values (`ttft:500`, also comma-separated `ttft:500,tpot:50`) into SLOs. */
export function parseGoodput(specs: readonly string[]): Slo | undefined {
  if (specs.length === 0) return undefined;
  const slo: Slo = {};
  for (const part of specs.flatMap((s) => s.split(","))) {
    const m = /^\s*(ttft|tpot|e2el)\s*:\s*([^\s]+)\s*$/.exec(part);
    const ms = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(ms) || ms <= 0) {
      throw new InferdError("invalid_argument", `invalid --goodput: ${JSON.stringify(part)} (must be ttft:MS, tpot:MS or e2el:MS with MS > 0)`, { param: "goodput" });
    }
    slo[SLO_KEYS[m[1] as keyof typeof SLO_KEYS]] = ms;
  }
  return slo;
}

/** True when a successful request meets every given SLO (vLLM's definition of good). */
export function meetsSlo(r: RequestResult, slo: Slo): boolean {
  return (slo.ttftMs === undefined || r.ttftMs <= slo.ttftMs) && (slo.tpotMs === undefined || r.tpotMs <= slo.tpotMs) && (slo.e2elMs === undefined || r.e2elMs <= slo.e2elMs);
}

/** Aggregates per-request results over a run that lasted `durationMs`. */
export function computeMetrics(results: readonly RequestResult[], durationMs: number, slo?: Slo): BenchMetrics {
  const ok = results.filter((r) => r.ok);
  const durationS = durationMs / 1000;
  const totalInputTokens = ok.reduce((a, r) => a + (r.promptTokens ?? 0), 0);
  const totalOutputTokens = ok.reduce((a, r) => a + r.outputTokens, 0);
  const counts = new Map<string, number>();
  for (const r of results) if (!r.ok) counts.set(r.error ?? "unknown error", (counts.get(r.error ?? "unknown error") ?? 0) + 1);
  const perS = (n: number) => (durationS > 0 ? n / durationS : 0);
  return {
    completed: ok.length,
    failed: results.length - ok.length,
    durationS,
    totalInputTokens,
    totalOutputTokens,
    requestThroughput: perS(ok.length),
    requestGoodput: slo ? perS(ok.filter((r) => meetsSlo(r, slo)).length) : undefined,
    outputThroughput: perS(totalOutputTokens),
    totalTokenThroughput: perS(totalInputTokens + totalOutputTokens),
    ttft: summarize(ok.map((r) => r.ttftMs)),
    // a single-token request has no time per output token; vLLM leaves it out too
    tpot: summarize(ok.filter((r) => r.outputTokens > 1).map((r) => r.tpotMs)),
    itl: summarize(ok.flatMap((r) => r.itlMs)),
    e2el: summarize(ok.map((r) => r.e2elMs)),
    errors: [...counts].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count),
  };
}

/** Run settings echoed in the table and the JSON. */
export interface RunInfo {
  requestRate: number;
  maxConcurrency: number;
}

const row = (label: string, value: string | number) => `${label.padEnd(40)} ${typeof value === "number" ? value.toFixed(2) : value}\n`;
const title = (s: string, fill: string) => {
  const left = Math.floor((50 - s.length) / 2);
  return fill.repeat(left) + s + fill.repeat(50 - s.length - left) + "\n";
};

/** The result table, laid out like vLLM's `bench serve` so the two read side by side. */
export function formatReport(m: BenchMetrics, info: RunInfo): string {
  let out = title(" Serving Benchmark Result ", "=");
  out += row("Successful requests:", String(m.completed));
  out += row("Failed requests:", String(m.failed));
  if (Number.isFinite(info.maxConcurrency)) out += row("Maximum request concurrency:", String(info.maxConcurrency));
  out += row("Request rate configured (RPS):", Number.isFinite(info.requestRate) ? info.requestRate : "inf");
  out += row("Benchmark duration (s):", m.durationS);
  out += row("Total input tokens:", String(m.totalInputTokens));
  out += row("Total generated tokens:", String(m.totalOutputTokens));
  out += row("Request throughput (req/s):", m.requestThroughput);
  if (m.requestGoodput !== undefined) out += row("Request goodput (req/s):", m.requestGoodput);
  out += row("Output token throughput (tok/s):", m.outputThroughput);
  out += row("Total token throughput (tok/s):", m.totalTokenThroughput);
  const sections = [
    ["Time to First Token", "TTFT", m.ttft],
    ["Time per Output Token (excl. 1st token)", "TPOT", m.tpot],
    ["Inter-token Latency", "ITL", m.itl],
    ["End-to-end Latency", "E2EL", m.e2el],
  ] as const;
  for (const [name, short, s] of sections) {
    out += title(name, "-");
    out += row(`Mean ${short} (ms):`, s.mean) + row(`Median ${short} (ms):`, s.median) + row(`P99 ${short} (ms):`, s.p99);
  }
  out += "=".repeat(50) + "\n";
  for (const e of m.errors.slice(0, 5)) out += `failed x${e.count}: ${e.error}\n`;
  if (m.errors.length > 5) out += `(${m.errors.length - 5} more distinct errors, see --json)\n`;
  return out;
}
