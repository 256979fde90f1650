/**
 * The open-loop, fixed-rate HTTP load generator of `npm run bench -- gateway`, run as its own
 * process (forked with an IPC channel) so that its event loop shares nothing with the gateway or
 * the upstream it measures. It takes one `LoadJob` per message and answers with a `LoadResult`.
 *
 * Open loop: request i is sent at t0 + i / rate whether or not earlier ones have answered, as
 * independent clients would send them. A closed loop (send the next when one returns) slows
 * down with the server and so hides exactly the queueing a latency benchmark is for. Each
 * request gets its own keep-alive connection from an undici pool large enough that no request
 * waits for one at the client (the most connections open is reported to prove it).
 */
import { Pool } from "undici";

export interface LoadJob {
  /** e.g. "http://127.0.0.1:8080". */
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The body asks for SSE: the answer is checked for `data: [DONE]`; else for a JSON completion. */
  stream: boolean;
  /** Offered requests per second. */
  rate: number;
  /** Sent at the same rate first, not measured: connections open, JIT and caches warm. */
  warmupS: number;
  seconds: number;
  /** A request not answered whole within this is an error. */
  timeoutMs: number;
  /** Connections the client may open (well above rate x latency, so nothing queues here). */
  maxConnections: number;
}

export interface LoadResult {
  /** Requests in the measured window (after the warm-up). */
  measured: number;
  ok: number;
  errors: number;
  /** Distinct error messages, most frequent first. */
  errorSamples: { error: string; count: number }[];
  /** Per successful measured request: send -> last byte of the body, ms. */
  latencyMs: number[];
  /** Per successful measured request: send -> first byte of the body, ms. */
  ttfbMs: number[];
  /** Successful measured requests / (last measured completion - window start). */
  achievedRate: number;
  /** How late the client sent each measured request after its slot (timer granularity, its own load), ms. */
  sendLagMs: number[];
  /** Most requests in flight at once. */
  maxInFlight: number;
  /** Most connections open at once; below `maxConnections`, no request ever waited at the client for one. */
  maxConnections: number;
}

const errorText = (e: unknown): string => {
  if (e instanceof AggregateError && e.errors.length > 0) return errorText(e.errors[0]);
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? (e.message || e.name);
  return String(e);
};

/** A whole, well-formed answer: a JSON completion, or a stream that ended with [DONE] and no error event. */
function wellFormed(job: LoadJob, text: string): boolean {
  if (job.stream) return text.includes("data: [DONE]") && !text.includes('data: {"error"');
  return text.startsWith("{") && text.includes('"choices"');
}

export async function runPoint(job: LoadJob): Promise<LoadResult> {
  const pool = new Pool(job.origin, {
    connections: job.maxConnections,
    pipelining: 1,
    headersTimeout: job.timeoutMs,
    bodyTimeout: job.timeoutMs,
  });
  const interval = 1000 / job.rate;
  const warmup = Math.round(job.rate * job.warmupS);
  const total = warmup + Math.round(job.rate * job.seconds);
  const r: LoadResult = { measured: total - warmup, ok: 0, errors: 0, errorSamples: [], latencyMs: [], ttfbMs: [], achievedRate: 0, sendLagMs: [], maxInFlight: 0, maxConnections: 0 };
  const errors = new Map<string, number>();
  let inFlight = 0;
  let lastEnd = 0;
  let allSent = false;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const send = async (i: number, slot: number): Promise<void> => {
    const start = performance.now();
    const measured = i >= warmup;
    if (measured) r.sendLagMs.push(start - slot);
    let error: string | undefined;
    let firstByte = 0;
    try {
      const res = await pool.request({ method: "POST", path: job.path, headers: job.headers, body: job.body });
      let text = "";
      for await (const chunk of res.body) {
        if (text === "") firstByte = performance.now();
        text += (chunk as Buffer).toString("utf8");
      }
      if (res.statusCode !== 200) error = `HTTP ${res.statusCode}: ${text.replace(/\s+/g, " ").slice(0, 160)}`;
      else if (!wellFormed(job, text)) error = `malformed answer: ${text.replace(/\s+/g, " ").slice(0, 160)}`;
    } catch (e) {
      error = errorText(e);
    }
    const end = performance.now();
    if (measured) {
      if (error === undefined) {
        r.ok++;
        r.latencyMs.push(end - start);
        r.ttfbMs.push(firstByte - start);
        lastEnd = Math.max(lastEnd, end);
      } else {
        r.errors++;
        errors.set(error, (errors.get(error) ?? 0) + 1);
      }
    }
    if (--inFlight === 0 && allSent) finish();
  };

  // Timers fire at ms granularity: each wake-up sends every request whose slot has come, each
  // stamped with its own send time, so a late timer shifts sends but never latencies.
  const t0 = performance.now() + 5;
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        inFlight++;
        r.maxInFlight = Math.max(r.maxInFlight, inFlight);
        void send(next, t0 + next * interval);
        next++;
      }
      r.maxConnections = Math.max(r.maxConnections, pool.stats.connected);
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    };
    tick();
  });
  allSent = true;
  if (inFlight === 0) finish();
  await finished;
  await pool.close();

  const windowStart = t0 + warmup * interval;
  r.achievedRate = r.ok > 0 ? r.ok / ((lastEnd - windowStart) / 1000) : 0;
  r.errorSamples = [...errors].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count);
  return r;
}

// Forked as a worker: one job per message, answered in order. Exits when the parent goes away.
if (process.send !== undefined) {
  process.on("message", (job: LoadJob) => {
    void runPoint(job).then(
      (result) => process.send!({ ok: true, result }),
      (e: unknown) => process.send!({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
}
