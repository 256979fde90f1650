/**
 * The processes of `npm run bench -- gateway`: the fixed upstream, inferd, Portkey and the load
 * generator, each its own node process. Servers log to files in a temp folder rather than to
 * pipes: a pipe would make this (otherwise idle) parent process read every line a gateway logs
 * under load, on the same 2 cores it measures. Every process started is registered and stopped
 * by `stopAll()`, which also runs on SIGINT/SIGTERM and on exit.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../src/util/paths.js";
import type { LoadJob, LoadResult } from "./open-loop.js";

const started = new Set<ChildProcess>();

/** A server process and where it listens. */
export interface Server {
  name: string;
  proc: ChildProcess;
  port: number;
  log: string;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** A port free now (Portkey takes `--port=N` and cannot report a port 0 it was given). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  if (typeof addr !== "object" || addr === null) throw new Error("no free port");
  return addr.port;
}

/** Spawns `node args` with stdout and stderr to `log`; resolves with the first match of `ready` in the log. */
async function startLogged(name: string, args: string[], log: string, ready: RegExp, timeoutMs = 30_000, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; match: RegExpExecArray }> {
  const fd = openSync(log, "w");
  const proc = spawn(process.execPath, args, { stdio: ["ignore", fd, fd], cwd: packageRoot(), env: { ...process.env, ...env } });
  closeSync(fd);
  started.add(proc);
  proc.once("exit", () => started.delete(proc));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(log, "utf8");
    const m = ready.exec(text);
    if (m) return { proc, match: m };
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${text.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${text.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startUpstream(dir: string): Promise<Server> {
  const log = join(dir, "upstream.log");
  const { proc, match } = await startLogged("fixed upstream", [here("./fixed-upstream.js"), "--port", "0"], log, /listening on http:\/\/[\d.]+:(\d+)/);
  return { name: "upstream", proc, port: Number(match[1]), log };
}

/**
 * `inferd serve --config` with one OpenAI-compatible provider (the upstream) and its defaults:
 * its ledger (on by default) in the run's folder, so its cost is part of what is measured.
 */
export async function startInferd(dir: string, upstreamPort: number, ledger = true): Promise<Server> {
  const config = join(dir, "inferd.yaml");
  writeFileSync(
    config,
    [...(ledger ? [] : ["ledger: false"]), "providers:", `  up: { type: openai, base_url: "http://127.0.0.1:${upstreamPort}/v1" }`, "models:", "  - { name: fast, provider: up, model: fixed }", ""].join("\n"),
  );
  const log = join(dir, "inferd.log");
  const bin = join(packageRoot(), "bin", "inferd.js");
  const { proc, match } = await startLogged("inferd", [bin, "serve", "--config", config, "--port", "0"], log, /serving \S+ on http:\/\/[\d.]+:(\d+)/, 30_000, { INFERD_HOME: dir });
  return { name: "inferd", proc, port: Number(match[1]), log };
}

export const PORTKEY_ENTRY = join("node_modules", "@portkey-ai", "gateway", "build", "start-server.js");

/** Portkey's gateway as its README runs it on Node, without its UI. */
export async function startPortkey(dir: string): Promise<Server> {
  const entry = join(packageRoot(), PORTKEY_ENTRY);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm ci (@portkey-ai/gateway is a devDependency)`);
  const port = await freePort();
  const log = join(dir, "portkey.log");
  const { proc } = await startLogged("portkey", [entry, `--port=${port}`, "--headless"], log, /Ready for connections/);
  // it prints "ready" right after calling listen: wait until it answers
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.text();
      if (res.ok) break;
    } catch (e) {
      if (i >= 100) throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: "portkey", proc, port, log };
}

/**
 * CPU time (user + system, all threads) a process has used so far, in µs; undefined off Linux.
 * /proc counts in USER_HZ ticks, which Linux fixes at 100 per second for user space.
 */
export function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** The load generator in its own process; one job at a time. */
export class LoadWorker {
  readonly proc: ChildProcess;

  constructor() {
    this.proc = fork(here("./open-loop.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    started.add(this.proc);
    this.proc.once("exit", () => started.delete(this.proc));
  }

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the load generator exited (${code})`));
      this.proc.once("exit", onExit);
      this.proc.once("message", (m: { ok: true; result: LoadResult } | { ok: false; error: string }) => {
        this.proc.off("exit", onExit);
        if (m.ok) resolve(m.result);
        else reject(new Error(`load generator: ${m.error}`));
      });
      this.proc.send(job);
    });
  }
}

/** SIGTERM to each process still running, SIGKILL after 5 s; resolves when all have exited. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...started].map(async (proc) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

let installed = false;

/** Ctrl-C or a kill stops the children (then runs `cleanup`) before this process goes; so does any exit. */
export function stopOnExit(cleanup: () => void): void {
  if (installed) return;
  installed = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping the benchmark's processes\n`);
      void stopAll().then(() => {
        cleanup();
        process.exit(130);
      });
    });
  }
  // last resort (an uncaught error): signals are synchronous, waiting is not possible here
  process.once("exit", () => {
    for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
}
