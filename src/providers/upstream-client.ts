/**
 * What the hosted providers need of an upstream's HTTP client (src/providers/http/ builds it:
 * pooled keep-alive connections, timeouts, retries before the first byte, a circuit breaker).
 */
export interface UpstreamResponse {
  status: number;
  json(): Promise<unknown>;
  /** The body as server-sent events; a body cut short is an error, never a quiet end. */
  sse(): AsyncIterable<{ event?: string; data: string }>;
}

export interface UpstreamClient {
  /** POSTs JSON; resolves once a 2xx response's headers are in (retrying before that), else throws an InferdError. */
  post(path: string, body: unknown, opts: { signal: AbortSignal; stream?: boolean; headers?: Record<string, string> }): Promise<UpstreamResponse>;
  close(): Promise<void>;
}
