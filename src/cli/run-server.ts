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
import type { KeyStore } from "../keys/store.js";
import type { Limits } from "../keys/limits.js";
import { ledgerLocationOf, openJournaledLedger } from "../ledger/open.js";
import { priceBook, type BookEntry } from "../pricing/price-book.js";
import { priceTable } from "../pricing/table.js";

export interface ServerSettings {
  host: string;
  port: number;
  apiKey?: string | undefined;
  /** The key /dashboard asks for (default: apiKey). */
  adminKey?: string | undefined;
  /** Serve /dashboard. */
  dashboard: boolean;
  cors?: string;
  maxBodyBytes?: number | undefined;
  /** Seconds running responses get to finish after SIGTERM. */
  shutdownSeconds: number;
  /** The served models as pricing reads them (name, provider, model, price). */
  priced: BookEntry[];
  /** The ledger: a SQLite path or postgres:// URL; undefined: $INFERD_HOME/ledger.sqlite; false: none. */
  ledger: string | false | undefined;
  /** Require virtual keys (`inferd keys create`), held to their budgets and rate limits. */
  keys: boolean;
  /** Redis for the keys' limits, shared by replicas (default: in process). */
  redisUrl?: string | undefined;
}

/** Prices, ledger and keys, opened before the server listens and closed after it drained. */
async function openBooks(settings: ServerSettings) {
  const book = priceBook(settings.priced, priceTable());
  for (const note of book.notes) process.stderr.write(`[inferd] price: ${note}\n`);
  const where = settings.ledger === undefined ? { kind: "sqlite" as const } : settings.ledger === false ? undefined : ledgerLocationOf(settings.ledger);
  // a server's SQLite commits run on their own thread: its event loop never waits for one
  const ledger = where === undefined ? undefined : await openJournaledLedger(where.kind === "sqlite" ? { ...where, thread: true } : where, { batchMs: 20 });
  let keys: KeyStore | undefined;
  let limits: Limits | undefined;
  if (settings.keys) {
    // loaded only with keys on: the Redis client and the key store are not needed otherwise
    const k = await import("../keys/index.js");
    keys = new k.KeyStore();
    limits = k.createLimits({ ...(settings.redisUrl !== undefined ? { redisUrl: settings.redisUrl } : {}), ledger: keys });
  }
  const close = async () => {
    await ledger?.close();
    await limits?.close();
    keys?.close();
  };
  return { book, ledger, keys, limits, close };
}

export async function runServer(gateway: Gateway, settings: ServerSettings): Promise<number> {
  const lifecycle = new Lifecycle();
  const { host, port, shutdownSeconds } = settings;
  const books = await openBooks(settings);
  const app = createApp({
    gateway,
    accounting: { book: books.book, ledger: books.ledger, limits: books.limits },
    ...(books.keys !== undefined ? { keys: books.keys } : {}),
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.adminKey !== undefined ? { adminKey: settings.adminKey } : {}),
    dashboard: settings.dashboard,
    ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
    ...(settings.cors !== undefined ? { corsOrigin: settings.cors } : {}),
    lifecycle,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      process.stderr.write(`[inferd] serving ${gateway.names().join(", ")} on http://${host}:${info.port}\n`);
      if (settings.dashboard) process.stderr.write(`[inferd] dashboard: http://${host}:${info.port}/dashboard\n`);
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
  // every response has ended: the ledger's queue is flushed last
  await books.close();
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

