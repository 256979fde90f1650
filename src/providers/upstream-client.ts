/**
 * What the hosted providers need of an upstream's HTTP client (src/providers/http/ builds it:
 * pooled keep-alive connections, timeouts, retries before the first byte, a circuit breaker).
 */
export interface UpstreamResponse {
  status: number;
  json(): Promise<unknown>;
  /**
   * The body as server-sent events, ending after the event `isFinal` recognizes (a body that
   * ends before it is an error, never a quiet end). Read it to its end: that is what tells the
   * circuit breaker the upstream is healthy.
   */
  sse(options?: { isFinal?: (e: { event?: string; data: string }) => boolean }): AsyncIterable<{ event?: string; data: string }>;
}

export interface UpstreamClient {
  /** POSTs JSON; resolves once a 2xx response's headers are in (retrying before that), else throws an InferdError. */
  post(path: string, body: unknown, opts: { signal: AbortSignal; stream?: boolean; headers?: Record<string, string> }): Promise<UpstreamResponse>;
  /** The circuit breaker's state, for metrics. */
  readonly circuitState?: "closed" | "open" | "half-open";
  close(): Promise<void>;
}
