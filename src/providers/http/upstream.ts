/**
 * One hosted upstream (an OpenAI-compatible server, Anthropic's API) as the providers use it: a
 * pooled keep-alive undici client to its origin, its timeouts, retries with backoff, and a circuit
 * breaker. `post()` resolves only with a 2xx whose status and headers are in; every failure before
 * that is retried inside (when retryable, while attempts and time remain), so a retry can never
 * repeat output a client has already seen: once `post()` resolves, the caller owns the body.
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import { Pool } from "undici";
import { InferdError } from "../../util/errors.js";
import { CallScope, TIMEOUT_DEFAULTS, type UpstreamTimeouts } from "./call-scope.js";
import { CircuitBreaker, type CircuitOptions, type CircuitState, type Permit } from "./circuit-breaker.js";
import { RetryPolicy, type RetryOptions } from "./retry-policy.js";
import { statusError } from "./upstream-errors.js";
import { UpstreamResponse, type ResponseHeaders } from "./upstream-response.js";

/** How the key is sent: `Authorization: Bearer KEY` (OpenAI and most), or a header of its own (Anthropic's `x-api-key`). */
export type UpstreamAuth = "bearer" | { header: string };

/** One upstream's configuration. */
export interface UpstreamOptions {
  /** Its name in the config: the only way messages and metrics refer to it. */
  name: string;
  /** Origin and path prefix, e.g. "https://api.openai.com/v1"; `post()` paths are appended. */
  baseUrl: string;
  /** The key (see resolveApiKey); none: no auth header (a local OpenAI-compatible server). */
  apiKey?: string;
  auth?: UpstreamAuth;
  /** Headers sent with every request (e.g. `anthropic-version`). */
  headers?: Record<string, string>;
  timeouts?: Partial<UpstreamTimeouts>;
  retries?: RetryOptions;
  circuit?: CircuitOptions;
  /** Most connections open to the origin at once (default: no limit; requests beyond wait for one). */
  maxConnections?: number;
}

/** Injectable time (tests walk backoffs and cooldowns without waiting) and jitter. */
export interface UpstreamDeps {
  now?: () => number;
  /** Waits `ms`, rejecting when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Options of one `post()`. */
export interface PostOptions {
  /** Cancels the call at once, whatever it is doing; the call then throws InferdError("aborted"). */
  signal: AbortSignal;
  /** Asks for an event stream (sets `Accept: text/event-stream`); read it with `sse()`. */
  stream?: boolean;
  /** Headers of this request alone (e.g. `x-request-id`); they override the upstream's. */
  headers?: Record<string, string>;
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> => sleepFor(ms, undefined, { signal });

export class Upstream {
  readonly name: string;
  readonly timeouts: UpstreamTimeouts;
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  private readonly breaker: CircuitBreaker;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private closed = false;

  constructor(
    private readonly opts: UpstreamOptions,
    deps: UpstreamDeps = {},
  ) {
    this.name = opts.name;
    this.timeouts = { ...TIMEOUT_DEFAULTS, ...opts.timeouts };
    for (const [key, value] of Object.entries(this.timeouts)) {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`${opts.name}: timeouts.${key} must be a number >= 0, got ${value}`);
    }
    const url = new URL(opts.baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError(`${opts.name}: baseUrl must be http or https, got ${url.protocol}`);
    this.pathPrefix = url.pathname.replace(/\/+$/, "");
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? defaultSleep;
    this.retry = new RetryPolicy(opts.retries, deps.random);
    this.breaker = new CircuitBreaker(opts.name, opts.circuit, this.now);
    // One pool per origin: keep-alive connections reused across calls; pipelining 1 = one request
    // at a time per connection (a slow stream must not hold up the calls queued behind it).
    this.pool = new Pool(url.origin, {
      connections: opts.maxConnections ?? null,
      pipelining: 1,
      connect: { timeout: this.timeouts.connectMs },
      headersTimeout: this.timeouts.firstByteMs,
      bodyTimeout: this.timeouts.idleMs,
    });
  }

  /** The circuit breaker's state (for metrics and the router's choice of upstream). */
  get circuitState(): CircuitState {
    return this.breaker.state;
  }

  /**
   * POSTs `body` as JSON to `path` (appended to baseUrl's path). Resolves with a 2xx response whose
   * body the caller reads (json() or sse()) or discards. Throws InferdError: "unavailable" when the
   * circuit is open, "aborted" when the caller's signal fired, "upstream" for anything else (see
   * upstream-errors.ts), after the retries the error allows.
   */
  async post(path: string, body: unknown, options: PostOptions): Promise<UpstreamResponse> {
    if (this.closed) throw new InferdError("unavailable", `${this.name} is closed`, { retryable: true });
    const scope = new CallScope({ name: this.name, apiKey: this.opts.apiKey, timeouts: this.timeouts, now: this.now }, options.signal);
    if (options.signal.aborted) {
      scope.dispose();
      throw scope.fail(options.signal.reason, "request");
    }
    let permit: Permit;
    try {
      permit = this.breaker.admit();
    } catch (e) {
      scope.dispose();
      throw e;
    }
    const payload = JSON.stringify(body);
    const headers = this.requestHeaders(options);
    for (let attempt = 0; ; attempt++) {
      let failure: InferdError;
      try {
        const res = await this.attempt(path, payload, headers, scope);
        permit.settle("success");
        return new UpstreamResponse(res.status, res.headers, this.name, res.body, scope, (outcome) => this.breaker.recordBody(outcome));
      } catch (e) {
        failure = scope.fail(e, "request");
      }
      const delay = failure.kind === "aborted" ? undefined : this.retry.delayAfter(failure, attempt, scope.remainingMs());
      if (delay === undefined) {
        permit.settle(failure.kind === "upstream" && failure.details.retryable === true ? "failure" : "neutral");
        scope.dispose();
        throw failure;
      }
      try {
        await this.sleep(delay, scope.signal);
      } catch (e) {
        // The wait ends early only by the scope's signal: a cancellation or the total timeout.
        permit.settle(options.signal.aborted ? "neutral" : "failure");
        scope.dispose();
        throw scope.fail(e, "request");
      }
    }
  }

  /** Closes the pool once its calls in flight have ended; later calls throw "unavailable". */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }

  /** One try: resolves with a 2xx; a non-2xx is read (bounded) for its message and thrown. */
  private async attempt(path: string, payload: string, headers: Record<string, string>, scope: CallScope) {
    const res = await this.pool.request({ method: "POST", path: this.pathPrefix + path, headers, body: payload, signal: scope.signal });
    const resHeaders = res.headers as ResponseHeaders;
    if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, headers: resHeaders, body: res.body };
    const text = await readErrorBody(res.body, scope.signal);
    throw statusError(this.name, res.statusCode, resHeaders, text, this.now());
  }

  private requestHeaders(options: PostOptions): Record<string, string> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: options.stream === true ? "text/event-stream" : "application/json",
      ...this.opts.headers,
      ...options.headers,
    };
    const key = this.opts.apiKey;
    if (key !== undefined) {
      const auth = this.opts.auth ?? "bearer";
      if (auth === "bearer") headers["authorization"] = `Bearer ${key}`;
      else headers[auth.header.toLowerCase()] = key;
    }
    return headers;
  }
}

/** Largest error body read for its message (64 KiB); the rest is dropped with the connection. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The start of an error response's body. A body that breaks off returns what arrived: the status
 * is the error being reported, its message a bonus. A cancellation still propagates.
 */
async function readErrorBody(body: AsyncIterable<Buffer> & { destroy(): void }, signal: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= MAX_ERROR_BODY_BYTES) break;
    }
  } catch (e) {
    if (signal.aborted) throw e;
  } finally {
    body.destroy();
  }
  return Buffer.concat(parts).toString("utf8").slice(0, MAX_ERROR_BODY_BYTES);
}
