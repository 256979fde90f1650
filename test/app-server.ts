/**
 * A real inferd HTTP server for tests, on 127.0.0.1 and a free port, with helpers to post and
 * to read /metrics.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import type { Engine } from "../src/index.js";
import { localGateway } from "../src/gateway/local-gateway.js";
import { createApp } from "../src/server/app.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
/** A fetch Response whose JSON the tests read field by field. */
type Res = Omit<Response, "json"> & { json(): Promise<Json> };

/** A server over `engines` on 127.0.0.1; `close` stops it and frees the engines. */
export async function startApp(engines: Map<string, Engine>, opts: { maxBodyBytes?: number; corsOrigin?: string } = {}) {
  const app = createApp({ gateway: localGateway(engines), ...opts });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (path: string, body: unknown, init: RequestInit = {}): Promise<Res> =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body), ...init });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    for (const e of engines.values()) await e.dispose();
  };
  return { base, post, metric, close };
}

