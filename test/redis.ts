/**
 * A real redis-server for tests: started on a free port on 127.0.0.1 with no persistence in a
 * temporary folder, stopped (and its folder removed) by `stop()`, and killed when the test
 * process exits whatever happened, so a failing test never leaves one running.
 *
 *   const redis = await startRedis();   // in before()
 *   after(() => redis.stop());
 *
 * Tests skip with `needsRedis` only when redis-server is not installed
 * (`apt-get install -y redis-server`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

const installed = spawnSync("redis-server", ["--version"], { stdio: "ignore" }).error === undefined;

/** `{skip: reason}` for tests that need redis-server, `{}` when it is installed. */
export const needsRedis: { skip?: string } = installed ? {} : { skip: "redis-server is not installed (apt-get install -y redis-server)" };

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

/** Resolves once something answers PING with PONG on the port. */
async function waitForPong(port: number, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} before answering`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: "127.0.0.1" });
      c.once("error", () => resolve(false));
      c.once("connect", () => c.write("PING\r\n"));
      c.once("data", (d) => {
        c.destroy();
        resolve(d.toString().startsWith("+PONG"));
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startOnce(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "inferd-redis-"));
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPong(port, child, Date.now() + 10_000);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}

/** Starts a redis-server; retries on another port if the free one was taken in between. */
export async function startRedis(): Promise<TestRedis> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce();
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
