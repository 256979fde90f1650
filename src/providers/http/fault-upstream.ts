/**
 * A scripted upstream for tests: a real node:http server on 127.0.0.1 whose answer to each request
 * is the next step of a queue (the first request gets the first step...), so tests of the HTTP
 * layer and of the providers built on it see real sockets fail in the ways hosted APIs fail:
 * errors, rate limits, hangs, stalls, resets, broken event streams. Every request is recorded
 * (method, path, headers, body, connection) so tests can count retries and check what was sent.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";

/** One server-sent event to send: `data` may hold newlines (sent as several data lines). */
export interface FaultEvent {
  event?: string;
  data: string;
}

/** What the upstream does with one request. */
export type FaultStep =
  /** Answers `status` (default 200) with a JSON body, after `delayMs` (default 0). */
  | { kind: "json"; status?: number; body: unknown; headers?: Record<string, string>; delayMs?: number }
  /** Answers 200 with an event stream of `events`, `gapMs` apart, then `data: [DONE]` unless `done` is false. */
  | { kind: "sse"; events: FaultEvent[]; done?: boolean; gapMs?: number; headers?: Record<string, string> }
  /**
   * Sends `status` (default 200) and `chunks` of raw body text, `gapMs` apart, then ends the way
   * `end` says: "end" (a clean end), "stall" (keeps the connection open, sends nothing more),
   * "reset" (destroys the socket with a TCP reset). Malformed and cut streams are made with it.
   */
  | { kind: "raw"; status?: number; headers?: Record<string, string>; chunks: string[]; gapMs?: number; end: "end" | "stall" | "reset" }
  /** Reads the request, then never answers (a hung upstream: the first-byte timeout's case). */
  | { kind: "hang" }
  /** Reads the request, then resets the connection before any response byte. */
  | { kind: "reset" };

/** A request as the upstream received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Which TCP connection carried it (1, 2, ...): equal numbers mean a kept-alive connection was reused. */
  connection: number;
}

/** Shorthands for common steps. */
export const fault = {
  ok: (body: unknown = { ok: true }): FaultStep => ({ kind: "json", body }),
  status: (status: number, message = `status ${status}`, headers?: Record<string, string>): FaultStep => ({ kind: "json", status, body: { error: { message, type: "test_error" } }, headers }),
  rateLimited: (retryAfter: string, message = "slow down"): FaultStep => ({ kind: "json", status: 429, body: { error: { message } }, headers: { "retry-after": retryAfter } }),
  sse: (events: FaultEvent[], more: Omit<Extract<FaultStep, { kind: "sse" }>, "kind" | "events"> = {}): FaultStep => ({ kind: "sse", events, ...more }),
  hang: (): FaultStep => ({ kind: "hang" }),
  reset: (): FaultStep => ({ kind: "reset" }),
};

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

export class FaultUpstream {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  private readonly steps: FaultStep[] = [];
  private connections = 0;

  private constructor(
    private readonly server: Server,
    /** e.g. "http://127.0.0.1:40123". */
    readonly url: string,
  ) {}

  /** Starts one on a free port of 127.0.0.1. */
  static async start(): Promise<FaultUpstream> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const upstream = new FaultUpstream(server, `http://127.0.0.1:${port}`);
    const ids = new WeakMap<Socket, number>();
    server.on("connection", (socket) => ids.set(socket, ++upstream.connections));
    server.on("request", (req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () => {
        upstream.requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(parts).toString("utf8"), connection: ids.get(req.socket) ?? 0 });
        void upstream.perform(upstream.steps.shift(), upstream.requests.length, res);
      });
    });
    return upstream;
  }

  /** Appends steps to the queue; a request that finds the queue empty gets a 418 saying so (a test's mistake, loudly). */
  script(...steps: FaultStep[]): this {
    this.steps.push(...steps);
    return this;
  }

  /** Steps not yet used. */
  get pending(): number {
    return this.steps.length;
  }

  /** The recorded requests' bodies parsed as JSON. */
  bodies(): unknown[] {
    return this.requests.map((r) => JSON.parse(r.body) as unknown);
  }

  /** Stops it, cutting the connections it holds (hung and stalled ones included). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async perform(step: FaultStep | undefined, n: number, res: ServerResponse): Promise<void> {
    if (step === undefined) {
      res.writeHead(418, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `fault upstream: no step scripted for request ${n}` } }));
      return;
    }
    switch (step.kind) {
      case "json":
        await pause(step.delayMs);
        res.writeHead(step.status ?? 200, { "content-type": "application/json", ...step.headers }).end(JSON.stringify(step.body));
        return;
      case "sse": {
        res.writeHead(200, { ...SSE_HEADERS, ...step.headers });
        const events = step.done === false ? step.events : [...step.events, { data: "[DONE]" }];
        for (const e of events) {
          if (res.destroyed) return;
          res.write(`${e.event === undefined ? "" : `event: ${e.event}\n`}${e.data.split("\n").map((l) => `data: ${l}\n`).join("")}\n`);
          await pause(step.gapMs);
        }
        res.end();
        return;
      }
      case "raw": {
        res.writeHead(step.status ?? 200, { ...SSE_HEADERS, ...step.headers });
        for (const [i, chunk] of step.chunks.entries()) {
          if (res.destroyed) return;
          if (i > 0) await pause(step.gapMs);
          res.write(chunk);
        }
        if (step.end === "end") res.end();
        else if (step.end === "reset") setTimeout(() => res.socket?.resetAndDestroy(), 20); // after the chunks left
        return;
      }
      case "hang":
        return; // the response stays open until the client gives up or close() cuts it
      case "reset":
        res.socket?.resetAndDestroy();
        return;
    }
  }
}

function pause(ms: number | undefined): Promise<void> {
  return ms === undefined || ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never says a byte: an `https://` URL to
 * it hangs in the TLS handshake, which is how a connect timeout is met without leaving this machine.
 */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
