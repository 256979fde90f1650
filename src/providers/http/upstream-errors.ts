/**
 * How an upstream's failures become InferdErrors: one place that decides status, retryability,
 * code and message, so the OpenAI-compatible and Anthropic providers report the same failure the
 * same way. Every message names the upstream by its configured NAME, never its URL (a URL can
 * carry a key in its query) and never its key.
 */
import { InferdError } from "../../util/errors.js";

/** Which of an upstream's timeouts fired (see UpstreamTimeouts). */
export type TimeoutKind = "connect" | "first-byte" | "idle" | "total";

/** Where in a call a transport error happened: before the response's headers, or reading its body. */
export type CallPhase = "request" | "body";

/**
 * An upstream's non-2xx answer. Besides what InferdError carries, it keeps the upstream's own
 * status (details.status is what the gateway reports, which differs for 401/403 and 5xx) and the
 * Retry-After in milliseconds (details.retryAfterSeconds is rounded up for the header).
 */
export class UpstreamStatusError extends InferdError {
  constructor(
    message: string,
    details: InferdError["details"],
    readonly upstreamStatus: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super("upstream", message, details);
  }
}

/** A timeout of `kind` after `ms`: 504, retryable (another try or another upstream may be faster). */
export function timeoutError(name: string, kind: TimeoutKind, ms: number): InferdError {
  return new InferdError("upstream", `${name}: ${timeoutWhat(kind, ms)}`, {
    status: 504,
    retryable: true,
    code: "upstream_timeout",
  });
}

function timeoutWhat(kind: TimeoutKind, ms: number): string {
  switch (kind) {
    case "connect":
      return `connect timeout (no connection within ${ms} ms)`;
    case "first-byte":
      return `first-byte timeout (no response headers within ${ms} ms)`;
    case "idle":
      return `idle timeout (no response data for ${ms} ms)`;
    case "total":
      return `total timeout (the request took longer than ${ms} ms)`;
  }
}

/** The caller cancelled (its AbortSignal): distinct kind, never retried, never held against the upstream. */
export function abortedError(name: string): InferdError {
  return new InferdError("aborted", `${name}: the request was cancelled`, { code: "request_cancelled" });
}

/** Connection-level error codes: the network or the upstream's process, worth another try. */
const UNREACHABLE_CODES = new Set([
  "UND_ERR_SOCKET", // "other side closed", a reset seen by undici's parser
  "UND_ERR_CLOSED",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH", // the body ended short of its content-length
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Maps an error thrown by undici (or the socket under it) to an InferdError. Timeouts name the
 * timeout; connection errors are 502 retryable; anything else (TLS certificate, invalid HTTP) is a
 * 502 that retrying will not fix.
 */
export function transportError(name: string, e: unknown, phase: CallPhase, timeouts: { connectMs: number; firstByteMs: number; idleMs: number }): InferdError {
  const code = errorCode(e);
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return timeoutError(name, "connect", timeouts.connectMs);
    case "UND_ERR_HEADERS_TIMEOUT":
      return timeoutError(name, "first-byte", timeouts.firstByteMs);
    case "UND_ERR_BODY_TIMEOUT":
      return timeoutError(name, "idle", timeouts.idleMs);
  }
  const why = code ?? firstLineOf(e);
  // A syscall error the set does not list (EADDRNOTAVAIL...) is still the network's.
  if ((code !== undefined && UNREACHABLE_CODES.has(code)) || hasSyscall(e)) {
    const where = phase === "request" ? "upstream unreachable" : "connection lost mid-response";
    return new InferdError("upstream", `${name}: ${where} (${why})`, { status: 502, retryable: true, code: "upstream_unreachable" });
  }
  return new InferdError("upstream", `${name}: request failed (${why})`, { status: 502, retryable: false, code: "upstream_error" });
}

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function hasSyscall(e: unknown): boolean {
  return typeof (e as { syscall?: unknown } | null)?.syscall === "string";
}

function firstLineOf(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split("\n")[0] ?? msg).slice(0, 200);
}

/**
 * Maps a non-2xx answer to an error. 429 and 5xx (and 408/409, which the OpenAI and Anthropic SDKs
 * also retry) are retryable, reported as 429 / 502; 401/403 are the gateway's configuration, so
 * 502; other 4xx pass through, not retryable, with the upstream's own message. The upstream's
 * `x-should-retry` header, when present, overrides retryability (both hosted APIs send it).
 */
export function statusError(name: string, status: number, headers: Record<string, string | string[] | undefined>, body: string, nowMs: number): UpstreamStatusError {
  const retryAfterMs = parseRetryAfter(headers, nowMs);
  const retryAfterSeconds = retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000);
  const said = upstreamMessage(body);
  const suffix = said.message === undefined ? "" : `: ${said.message}`;
  const shouldRetry = header(headers, "x-should-retry");
  // Not for 401/403: trying the same credentials again cannot help, whatever the upstream says.
  const override = status === 401 || status === 403 ? undefined : shouldRetry === "true" ? true : shouldRetry === "false" ? false : undefined;
  const make = (message: string, reported: number, retryable: boolean, code: string) =>
    new UpstreamStatusError(message, { status: reported, retryable: override ?? retryable, code, retryAfterSeconds }, status, retryAfterMs);
  if (status === 429) return make(`${name} answered 429 (rate limited)${suffix}`, 429, true, "upstream_rate_limited");
  if (status >= 500 || status === 408 || status === 409) return make(`${name} answered ${status}${suffix}`, 502, true, "upstream_error");
  // The upstream's message for a credentials failure can quote part of the key: it is left out.
  if (status === 401 || status === 403) return make(`${name}: upstream rejected the gateway's credentials (${status})`, 502, false, "upstream_auth");
  if (status >= 400) return make(`${name} answered ${status}${suffix}`, status, false, said.code ?? "upstream_rejected");
  // 1xx are undici's; 3xx: redirects are not followed (a hosted API that redirects is misconfigured).
  return make(`${name} answered ${status}, which the gateway does not follow`, 502, false, "upstream_error");
}

/**
 * The error message (and code or type) in an OpenAI-shaped `{"error":{"message"}}` or
 * Anthropic-shaped `{"type":"error","error":{"message"}}` body, or a bare `{"message"}`; nothing
 * for other bodies (HTML from a proxy is no message for a client).
 */
export function upstreamMessage(body: string): { message?: string; code?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {}; // not JSON: the status alone is reported
  }
  const obj = parsed as { error?: unknown; message?: unknown } | null;
  const inner = (typeof obj?.error === "object" && obj.error !== null ? obj.error : obj) as { message?: unknown; code?: unknown; type?: unknown } | null;
  const message = typeof inner?.message === "string" ? oneLine(inner.message) : undefined;
  const code = typeof inner?.code === "string" ? inner.code : typeof inner?.type === "string" ? inner.type : undefined;
  return { message, code };
}

function oneLine(s: string): string {
  const line = s.replace(/\s*\n\s*/g, " ").trim();
  return line.length > 500 ? `${line.slice(0, 500)}...` : line;
}

/**
 * Milliseconds the upstream asks to wait: `retry-after-ms` (OpenAI's), else `Retry-After` as
 * seconds or an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, nowMs: number): number | undefined {
  const ms = Number(header(headers, "retry-after-ms"));
  if (header(headers, "retry-after-ms") !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const value = header(headers, "retry-after")?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its day and month; without letters Date.parse reads "-3" as a year.
  const date = /[A-Za-z]/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The same error with every occurrence of `secret` replaced: defence in depth, since an upstream's
 * message may echo what it was sent. Kind, class and details are kept.
 */
export function redact(err: InferdError, secret: string | undefined): InferdError {
  if (secret === undefined || secret === "") return err;
  const hides = (s: string | undefined) => s !== undefined && s.includes(secret);
  if (!hides(err.message) && !hides(err.details.code) && !hides(err.details.param)) return err;
  const clean = (s: string | undefined) => s?.split(secret).join("[redacted]");
  const details = { ...err.details, code: clean(err.details.code), param: clean(err.details.param) };
  const message = clean(err.message) ?? "";
  if (err instanceof UpstreamStatusError) return new UpstreamStatusError(message, details, err.upstreamStatus, err.retryAfterMs);
  return new InferdError(err.kind, message, details);
}
