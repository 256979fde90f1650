/**
 * `npm run bench -- gateway`: the latency a gateway adds in front of a fast upstream. The fixed
 * upstream (answers at once), inferd (`serve --config`, one OpenAI-compatible provider) and
 * Portkey's gateway in front of the same upstream, and the upstream alone ("direct"), each
 * driven in turn by an open-loop fixed-rate load generator in its own process: client, gateway
 * and upstream are three processes on the same machine. "Added" latency is a system's p50 (p99)
 * minus direct's at the same rate and mode in the same run. Then the offered rate is ramped
 * until each system no longer keeps up: the most requests/s it sustains.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { percentile } from "../src/loadgen/report.js";
import { cpuMicros, LoadWorker, startInferd, startPortkey, startUpstream, stopAll, stopOnExit, type Server } from "./gateway-procs.js";
import { printErrors, printHowRun, printPoints, printRamp, type PointStats, type RampOutcome } from "./gateway-report.js";
import type { LoadJob, LoadResult } from "./open-loop.js";

export const GATEWAY_SYSTEMS = ["direct", "inferd", "portkey"] as const;
export type GatewaySystem = (typeof GATEWAY_SYSTEMS)[number];
export const GATEWAY_MODES = ["json", "stream"] as const;
export type GatewayMode = (typeof GATEWAY_MODES)[number];

export interface GatewayBenchOptions {
  rates: number[];
  seconds: number;
  warmupS: number;
  /** Before the first point, each system and mode gets this long at a moderate rate, unmeasured (0: none). */
  primeS: number;
  /** Enough requests for the JIT to optimize the hot paths, well below any system's limit. */
  primeRate: number;
  systems: GatewaySystem[];
  modes: GatewayMode[];
  /** Offered rates of the ramp, in order; empty: no ramp. */
  ramp: number[];
  rampSeconds: number;
  /** A point is sustained when achieved >= this share of offered ... */
  sustainShare: number;
  /** ... its p99 is at most this ... */
  sustainP99Ms: number;
  /** ... and at most this share of its requests failed. */
  sustainErrorShare: number;
  keepLogs: boolean;
  /** inferd's ledger (on by default, as `inferd serve` runs): off measures the gateway without it. */
  ledger: boolean;
}

/** What the client sends each system: the same chat request, addressed as each expects it. */
function job(system: GatewaySystem, servers: Map<string, Server>, mode: GatewayMode, rate: number, seconds: number, warmupS: number): LoadJob {
  const upstream = servers.get("upstream")!.port;
  const port = system === "direct" ? upstream : servers.get(system)!.port;
  const headers: Record<string, string> = { "content-type": "application/json", authorization: "Bearer dummy" };
  if (system === "portkey") {
    headers["x-portkey-provider"] = "openai";
    headers["x-portkey-custom-host"] = `http://127.0.0.1:${upstream}/v1`;
  }
  const stream = mode === "stream";
  const body = JSON.stringify({
    model: system === "inferd" ? "fast" : "fixed",
    messages: [{ role: "user", content: "Say hello." }],
    max_tokens: 16,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    path: "/v1/chat/completions",
    headers,
    body,
    stream,
    rate,
    warmupS,
    seconds,
    timeoutMs: 30_000,
    // rate x 4 s of latency in flight before the client would have to queue
    maxConnections: Math.min(16_000, Math.max(64, Math.ceil(rate * 4))),
  };
}

/** CPU µs per request sent (warm-up included) of each process over one point. */
type Cpu = { gateway: number; upstream: number; client: number };

function stats(system: GatewaySystem, mode: GatewayMode, rate: number, j: LoadJob, r: LoadResult, cpu: Cpu): PointStats {
  return {
    cpu,
    system,
    mode,
    rate,
    achieved: r.achievedRate,
    measured: r.measured,
    ok: r.ok,
    errors: r.errors,
    errorSamples: r.errorSamples,
    p50: percentile(r.latencyMs, 50),
    p99: percentile(r.latencyMs, 99),
    ttfbP50: percentile(r.ttfbMs, 50),
    sendLagP99: percentile(r.sendLagMs, 99),
    maxInFlight: r.maxInFlight,
    maxConnections: r.maxConnections,
    connectionCap: j.maxConnections,
  };
}

/** Systems in a different order at each point (a rotation), so no system always follows the same one. */
const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]!);

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function gatewayBench(o: GatewayBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "inferd-bench-gateway-"));
  const cleanup = () => (o.keepLogs ? console.error(`logs kept in ${dir}`) : rmSync(dir, { recursive: true, force: true }));
  stopOnExit(cleanup);
  const servers = new Map<string, Server>();
  try {
    const upstream = await startUpstream(dir);
    servers.set("upstream", upstream);
    if (o.systems.includes("inferd")) servers.set("inferd", await startInferd(dir, upstream.port, o.ledger));
    if (o.systems.includes("portkey")) servers.set("portkey", await startPortkey(dir));
    const worker = new LoadWorker();
    printHowRun(o, servers);

    const run = async (system: GatewaySystem, mode: GatewayMode, rate: number, seconds: number): Promise<PointStats> => {
      const j = job(system, servers, mode, rate, seconds, o.warmupS);
      const pids = { gateway: system === "direct" ? undefined : servers.get(system)!.proc.pid, upstream: upstream.proc.pid, client: worker.proc.pid };
      const before = { gateway: cpuMicros(pids.gateway), upstream: cpuMicros(pids.upstream), client: cpuMicros(pids.client) };
      const result = await worker.run(j);
      const sent = Math.round(rate * o.warmupS) + result.measured;
      const per = (k: keyof Cpu) => {
        const a = before[k];
        const b = cpuMicros(pids[k]);
        return a === undefined || b === undefined ? NaN : (b - a) / sent;
      };
      const s = stats(system, mode, rate, j, result, { gateway: per("gateway"), upstream: per("upstream"), client: per("client") });
      const cpu = Number.isFinite(s.cpu.gateway) ? `, gateway CPU ${s.cpu.gateway.toFixed(0)} µs/req` : "";
      process.stderr.write(
        `  ${mode} ${rate}/s ${system}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, achieved ${s.achieved.toFixed(0)}/s${cpu}, ${s.errors} errors${s.errorSamples[0] ? ` (${s.errorSamples[0].error.slice(0, 80)})` : ""}\n`,
      );
      // let the last connections settle and the gateway's garbage go before the next point
      await pause(300);
      return s;
    };

    // The first point must not meet a cold process: unoptimized code, no connections yet.
    if (o.primeS > 0) {
      process.stderr.write(`priming: ${o.primeS} s at ${o.primeRate}/s per system and mode, not measured\n`);
      for (const mode of o.modes) for (const system of o.systems) await worker.run(job(system, servers, mode, o.primeRate, o.primeS, 0));
    }

    const points: PointStats[] = [];
    let k = 0;
    for (const rate of o.rates) {
      for (const mode of o.modes) {
        for (const system of rotate(o.systems, k++)) points.push(await run(system, mode, rate, o.seconds));
      }
    }
    printPoints(o, points);
    printErrors(points);

    if (o.ramp.length > 0) {
      const outcomes: RampOutcome[] = o.modes.flatMap((mode) => o.systems.map((system) => ({ system, mode, sustained: undefined, failed: undefined })));
      for (const rate of o.ramp) {
        const alive = outcomes.filter((x) => x.failed === undefined);
        if (alive.length === 0) break;
        for (const x of rotate(alive, k++)) {
          const s = await run(x.system, x.mode, rate, o.rampSeconds);
          const keepsUp = s.achieved >= o.sustainShare * rate && s.p99 <= o.sustainP99Ms && s.errors <= o.sustainErrorShare * s.measured;
          if (keepsUp) x.sustained = rate;
          else x.failed = s;
        }
      }
      printRamp(o, outcomes);
    }
    const portkey = servers.get("portkey");
    if (portkey !== undefined) printPortkeyErrors(portkey.log);
  } finally {
    await stopAll();
    cleanup();
  }
}

/** The first error Portkey logged, as the reason behind its failures (its streaming on Node 20). */
function printPortkeyErrors(log: string): void {
  // its log holds a stack trace per failed request: the first 64 KiB are enough
  const fd = openSync(log, "r");
  const buf = Buffer.alloc(64 * 1024);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  const lines = buf.subarray(0, n).toString("utf8").split("\n");
  const i = lines.findIndex((l) => /error/i.test(l));
  if (i >= 0) console.log(`\nPortkey's log, first error: ${lines.slice(i, i + 3).map((l) => l.trim()).join(" | ").slice(0, 400)}`);
}
