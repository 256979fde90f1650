/**
 * The tables of `npm run bench -- gateway` (Markdown, pasteable into BENCHMARKS.md): how the
 * run was set up, absolute figures per point, the latency each gateway adds over the direct
 * baseline with the inferd/Portkey ratio, the targets, and the most requests/s each sustains.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../src/util/paths.js";
import type { GatewayBenchOptions, GatewayMode, GatewaySystem } from "./gateway.js";
import type { Server } from "./gateway-procs.js";
import { fmt, printTable } from "./table.js";

export interface PointStats {
  /** CPU µs per request sent, of the gateway (NaN for direct), the upstream and the client process. */
  cpu: { gateway: number; upstream: number; client: number };
  system: GatewaySystem;
  mode: GatewayMode;
  rate: number;
  achieved: number;
  measured: number;
  ok: number;
  errors: number;
  errorSamples: { error: string; count: number }[];
  p50: number;
  p99: number;
  ttfbP50: number;
  sendLagP99: number;
  maxInFlight: number;
  maxConnections: number;
  /** The client's connection limit: max connections below it means nothing queued at the client. */
  connectionCap: number;
}

export interface RampOutcome {
  system: GatewaySystem;
  mode: GatewayMode;
  /** The highest offered rate kept up with (undefined: not even the first). */
  sustained: number | undefined;
  /** The first point it did not keep up with. */
  failed: PointStats | undefined;
}

const NAMES: Record<GatewaySystem, string> = { direct: "direct", inferd: "inferd", portkey: "Portkey" };

function portkeyVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "node_modules", "@portkey-ai", "gateway", "package.json"), "utf8")) as { version?: string };
    return pkg.version ?? "?";
  } catch {
    return "?";
  }
}

export function printHowRun(o: GatewayBenchOptions, servers: Map<string, Server>): void {
  const cpu = cpus();
  console.log(`\n## Gateway overhead: ${cpu.length} x ${cpu[0]?.model.trim() ?? "?"}, Node ${process.version}\n`);
  console.log(`- Processes (each its own node process, all on this machine): load generator, fixed upstream (pid ${servers.get("upstream")?.proc.pid})` +
    [...servers.values()].filter((s) => s.name !== "upstream").map((s) => `, ${s.name} (pid ${s.proc.pid})`).join("") + ".");
  console.log("- Upstream: bench/fixed-upstream.ts (node:http, keep-alive): a fixed 4-chunk reply at once; JSON when `stream` is false, else SSE (role, 4 content, finish, usage chunks, `[DONE]`).");
  console.log("- direct: the client straight to the upstream.");
  if (servers.has("inferd")) {
    console.log("- inferd: `inferd serve --config` with one `type: openai` provider at the upstream, defaults otherwise (timeouts, 2 retries, circuit breaker); it always streams from the upstream (include_usage) and aggregates for a non-streaming client.");
  }
  if (servers.has("portkey")) {
    console.log(`- Portkey: @portkey-ai/gateway ${portkeyVersion()}, \`node build/start-server.js --port=N --headless\`, requests with \`x-portkey-provider: openai\`, \`x-portkey-custom-host: <upstream>/v1\`; it forwards \`stream\` as sent.`);
  }
  console.log("- Client: bench/open-loop.ts, open loop: request i sent at t0 + i/rate whatever earlier ones are doing; undici pool, keep-alive, a connection per request in flight (connections opened reported beside the pool's cap: below it, no request waited at the client); latency = send -> last byte of the body read.");
  console.log("- CPU µs/req: user + system time of each process over the point (/proc, 10 ms ticks), divided by the requests sent, warm-up included.");
  if (o.primeS > 0) console.log(`- Before the first point each system and mode was primed (${o.primeS} s at ${o.primeRate} req/s, not measured), so none starts cold.`);
  console.log(`- Per point: ${o.warmupS} s warm-up at the same rate (discarded), then ${o.seconds} s measured; p50/p99 with linear interpolation; added = system minus direct at the same rate and mode.`);
  console.log(`- Order: rates ascending (${o.rates.join(", ")}/s), modes ${o.modes.join(", ")}; at each rate and mode the systems run back to back, their order rotated from point to point, so drift hits all alike.\n`);
}

const cell = (s: PointStats, v: number) => (s.ok === 0 ? `failed (${s.errors}/${s.measured})` : fmt(v, 2) + (s.errors > 0 ? ` (${s.errors} err)` : ""));

export function printPoints(o: GatewayBenchOptions, points: PointStats[]): void {
  const at = (system: GatewaySystem, mode: GatewayMode, rate: number) => points.find((p) => p.system === system && p.mode === mode && p.rate === rate);
  console.log("Absolute figures per point:\n");
  printTable(
    ["mode", "offered req/s", "system", "achieved req/s", "ok", "errors", "p50 ms", "p99 ms", "TTFB p50 ms", "client send lag p99 ms", "max in flight", "max connections (cap)", "CPU µs/req gateway / upstream / client"],
    o.modes.flatMap((mode) =>
      o.rates.flatMap((rate) =>
        o.systems.map((sys) => {
          const s = at(sys, mode, rate)!;
          return [mode, rate, NAMES[sys], fmt(s.achieved, 0), s.ok, s.errors, fmt(s.p50, 2), fmt(s.p99, 2), mode === "stream" ? fmt(s.ttfbP50, 2) : "-", fmt(s.sendLagP99, 2), s.maxInFlight, `${s.maxConnections} (${s.connectionCap})`, `${fmt(s.cpu.gateway, 0)} / ${fmt(s.cpu.upstream, 0)} / ${fmt(s.cpu.client, 0)}`];
        }),
      ),
    ),
  );
  if (!o.systems.includes("direct")) return;
  const gateways = o.systems.filter((s) => s !== "direct");
  const both = gateways.includes("inferd") && gateways.includes("portkey");
  const added = (s: PointStats, d: PointStats) => ({ p50: s.p50 - d.p50, p99: s.p99 - d.p99 });
  console.log("\nAdded latency (system minus direct, same rate and mode, same run), ms:\n");
  const header = ["mode", "offered req/s", "direct p50 / p99", ...gateways.flatMap((g) => [`${NAMES[g]} added p50`, `${NAMES[g]} added p99`])];
  if (both) header.push("inferd/Portkey added p50", "inferd/Portkey added p99");
  const ratio = (a: number, b: number, ok: boolean) => (ok && b > 0 ? `${fmt(a / b, 2)}x` : "-");
  printTable(
    header,
    o.modes.flatMap((mode) =>
      o.rates.map((rate) => {
        const d = at("direct", mode, rate)!;
        const row: (string | number)[] = [mode, rate, `${fmt(d.p50, 2)} / ${fmt(d.p99, 2)}`];
        for (const g of gateways) {
          const s = at(g, mode, rate)!;
          const a = added(s, d);
          row.push(cell(s, a.p50), cell(s, a.p99));
        }
        if (both) {
          const i = at("inferd", mode, rate)!;
          const p = at("portkey", mode, rate)!;
          const ok = i.ok > 0 && p.ok > 0;
          row.push(ratio(added(i, d).p50, added(p, d).p50, ok), ratio(added(i, d).p99, added(p, d).p99, ok));
        }
        return row;
      }),
    ),
  );
  printTargets(o, at);
}

/** The issue's targets: at 500 req/s, inferd adds <= 1 ms at p50 and <= 5 ms at p99, and less than Portkey. */
function printTargets(o: GatewayBenchOptions, at: (s: GatewaySystem, m: GatewayMode, r: number) => PointStats | undefined): void {
  if (!o.systems.includes("direct") || !o.systems.includes("inferd")) return;
  console.log("\nTargets at 500 req/s (inferd added p50 <= 1 ms, p99 <= 5 ms, and below Portkey's):");
  for (const mode of o.modes) {
    const d = at("direct", mode, 500);
    const i = at("inferd", mode, 500);
    if (d === undefined || i === undefined) {
      console.log(`- ${mode}: not measured (no 500 req/s point)`);
      continue;
    }
    const p50 = i.p50 - d.p50;
    const p99 = i.p99 - d.p99;
    const p = at("portkey", mode, 500);
    const clean = i.errors === 0;
    let vsPortkey = "Portkey not run";
    let belowPortkey = true;
    if (p !== undefined) {
      if (p.ok === 0) vsPortkey = `Portkey failed every request (${p.errors}/${p.measured}), no comparison`;
      else {
        belowPortkey = p50 < p.p50 - d.p50 && p99 < p.p99 - d.p99;
        vsPortkey = `Portkey adds ${fmt(p.p50 - d.p50, 2)} / ${fmt(p.p99 - d.p99, 2)} ms`;
      }
    }
    const met = clean && p50 <= 1 && p99 <= 5 && belowPortkey;
    console.log(`- ${mode}: inferd adds ${fmt(p50, 2)} ms at p50, ${fmt(p99, 2)} ms at p99${clean ? "" : ` (${i.errors} errors)`}; ${vsPortkey}: ${met ? "met" : "NOT met"}`);
  }
}

export function printRamp(o: GatewayBenchOptions, outcomes: RampOutcome[]): void {
  console.log(
    `\nMost requests/s sustained (ramp ${o.ramp.join(", ")}/s, ${o.warmupS} s warm-up + ${o.rampSeconds} s per step; sustained = achieved >= ${o.sustainShare * 100}% of offered, p99 <= ${o.sustainP99Ms} ms, errors <= ${o.sustainErrorShare * 100}%; a system leaves the ramp at its first miss):\n`,
  );
  printTable(
    ["mode", "system", "most req/s sustained", "first not sustained", "there: achieved req/s", "p99 ms", "errors"],
    outcomes.map((x) => {
      const f = x.failed;
      const top = x.sustained === undefined ? "none" : f === undefined ? `>= ${x.sustained} (ramp ended)` : x.sustained;
      return [x.mode, NAMES[x.system], top, f ? f.rate : "-", f ? fmt(f.achieved, 0) : "-", f ? fmt(f.p99, 1) : "-", f ? `${f.errors}/${f.measured}` : "-"];
    }),
  );
  const direct = outcomes.filter((x) => x.system === "direct" && x.failed !== undefined);
  for (const d of direct) console.log(`(direct, ${d.mode}, stopped at ${d.failed!.rate}/s: above that the client and upstream themselves do not keep up on this machine, so no gateway can be measured there)`);
}

/** Distinct errors per system and mode over the run, so a failure is reported as measured. */
export function printErrors(points: PointStats[]): void {
  const byKey = new Map<string, Map<string, number>>();
  for (const p of points) {
    for (const e of p.errorSamples) {
      const key = `${NAMES[p.system]}, ${p.mode}`;
      const m = byKey.get(key) ?? new Map<string, number>();
      m.set(e.error, (m.get(e.error) ?? 0) + e.count);
      byKey.set(key, m);
    }
  }
  if (byKey.size === 0) return;
  console.log("\nErrors seen (all points of the table above):");
  for (const [key, m] of byKey) for (const [error, count] of m) console.log(`- ${key}: ${count} x ${error}`);
}
