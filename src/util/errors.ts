/**
 * Error kinds inferd reports to users. The CLI prints `message` alone (one line, no stack) and
 * exits 1; the server maps `kind` to an HTTP status.
 */
export type InferdErrorKind =
  | "invalid_argument" // bad flag or parameter value
  | "model_not_found" // missing file, unknown model name
  | "invalid_model" // not a GGUF, truncated, unsupported architecture
  | "download_failed" // HTTP error while fetching a model
  | "offline" // no network and nothing cached
  | "context_overflow" // prompt (+ max tokens) longer than the context window
  | "overloaded" // scheduler queue full
  | "rate_limited" // a virtual key's requests or tokens per minute are used up: 429 with Retry-After
  | "quota_exceeded" // a virtual key's budget for its period is spent: 429, OpenAI's insufficient_quota
  | "aborted" // the caller cancelled
  | "unauthorized" // no valid API key
  | "upstream" // a hosted provider failed or refused: details.status is what to report (502 by default)
  | "unavailable" // no provider could take the request now (circuit open, every fallback failed): 503
  | "internal";

/** A user-facing error: its message names the problem in one line. */
export class InferdError extends Error {
  override readonly name = "InferdError";
  constructor(
    readonly kind: InferdErrorKind,
    message: string,
    readonly details: {
      param?: string;
      retryAfterSeconds?: number;
      /** "upstream": the HTTP status to report (an upstream's 4xx passes through; 502 or 504 otherwise). */
      status?: number;
      /** "upstream": whether trying again (or elsewhere) may succeed: 429, 5xx, timeouts, connection errors. */
      retryable?: boolean;
      /** An OpenAI-style error code to report (e.g. "upstream_timeout"). */
      code?: string;
      /** An OpenAI-style error type to report instead of the kind's (rate limits: "requests" or "tokens"). */
      type?: string;
    } = {},
  ) {
    super(message);
  }
}

/** True when `e` is an InferdError, optionally of one kind. */
export function isInferdError(e: unknown, kind?: InferdErrorKind): e is InferdError {
  return e instanceof InferdError && (kind === undefined || e.kind === kind);
}

/** The first line of an error's message (llama.cpp and converters throw multi-line ones). */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0] ?? msg;
}
