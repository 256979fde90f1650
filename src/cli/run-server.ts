/**
 * `inferd serve`'s process part: listen, then on SIGTERM or SIGINT drain (503 for new
 * requests), let running responses finish until the deadline, cut the rest with a proper end,
 * close the gateway (each engine after its step in flight) and return 0. A second signal exits
 * at once.
 */
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import type { Gateway } from "../gateway/gateway.js";
import { createApp } from "../server/app.js";
import { Lifecycle } from "../server/lifecycle.js";

export interface ServerSettings {
  host: string;
  port: number;
  apiKey?: string | undefined;
  cors?: string;
  maxBodyBytes?: number | undefined;
  /** Seconds running responses get to finish after SIGTERM. */
  shutdownSeconds: number;
}

export async function runServer(gateway: Gateway, settings: ServerSettings): Promise<number> {
  const lifecycle = new Lifecycle();
  const { host, port, shutdownSeconds } = settings;
  const app = createApp({
    gateway,
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
    ...(settings.cors !== undefined ? { corsOrigin: settings.cors } : {}),
    lifecycle,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      process.stderr.write(`[inferd] serving ${gateway.models().map((r) => r.name).join(", ")} on http://${host}:${info.port}\n`);
      resolve(s as Server);
    });
  });
  await shutdownSignal();
  process.stderr.write(`[inferd] shutting down: no new requests, letting running ones finish (at most ${shutdownSeconds} s)\n`);
  // a second signal means now: no waiting, no cleanup
  const now = () => process.exit(1);
  process.once("SIGTERM", now);
  process.once("SIGINT", now);
  lifecycle.drain();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // keep-alive connections that fall idle as their responses end would hold close() open
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => lifecycle.cut(), shutdownSeconds * 1000);
  // a client that stopped reading cannot hold the shutdown: 2 s after the cut, sockets close
  let hard: NodeJS.Timeout | undefined;
  await Promise.race([lifecycle.idle(), new Promise<void>((r) => (hard = setTimeout(r, shutdownSeconds * 1000 + 2000)))]);
  clearTimeout(deadline);
  clearTimeout(hard);
  server.closeIdleConnections();
  // responses have ended; a socket still flushing its last bytes gets a moment, then is closed
  const force = setTimeout(() => server.closeAllConnections(), 1000);
  await closed;
  clearTimeout(force);
  clearInterval(sweep);
  // every generation has ended: each engine waits for its step in flight, then frees its native objects
  await gateway.close();
  return 0;
}

/**
 * Resolves on the first SIGTERM or SIGINT, or when the parent process is gone. The last one is
 * for `npx inferd serve`: npm exits on SIGTERM without passing it on, which would leave this
 * server running, re-parented, for nobody. Only a process started by npm watches its parent.
 */
function shutdownSignal(): Promise<void> {
  return new Promise((resolve) => {
    let watch: NodeJS.Timeout | undefined;
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      clearInterval(watch);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    if (process.env.npm_execpath !== undefined) {
      const parent = process.ppid;
      watch = setInterval(() => process.ppid !== parent && stop(), 200);
      watch.unref();
    }
  });
}

