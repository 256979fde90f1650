import { ERROR_STATUS } from "../util/error-status.js";
import { isInferdError } from "../util/errors.js";

/** An error as the HTTP API reports it. */
export interface ApiError {
  status: number;
  /** OpenAI's `type` ("invalid_request_error", ...). */
  type: string;
  code: string | null;
  param: string | null;
  message: string;
  retryAfterSeconds?: number;
}

/** Thrown by handlers for request problems the engine never sees (bad JSON, unknown model). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** Maps anything thrown to a status and a message that never leaks a stack trace. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof HttpError) return { status: e.status, type: e.type, code: e.code, param: e.param, message: e.message };
  if (isInferdError(e)) {
    const [base, type, code] = ERROR_STATUS[e.kind];
    const status = e.details.status ?? base;
    return {
      status,
      type: e.details.type ?? (e.kind === "upstream" && status < 500 ? "invalid_request_error" : type),
      code: e.details.code ?? code,
      param: e.details.param ?? null,
      message: status === 500 && e.kind === "internal" ? "internal server error" : e.message,
      retryAfterSeconds: e.details.retryAfterSeconds,
    };
  }
  return { status: 500, type: "server_error", code: null, param: null, message: "internal server error" };
}

/** OpenAI's error body. */
export function openAiError(err: ApiError) {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

/** Anthropic's error body. */
export function anthropicError(err: ApiError) {
  const type =
    err.status === 400 ? "invalid_request_error"
    : err.status === 401 ? "authentication_error"
    : err.status === 404 ? "not_found_error"
    : err.status === 413 ? "request_too_large"
    : err.status === 429 ? "rate_limit_error"
    : err.status === 503 || err.status === 529 ? "overloaded_error"
    : "api_error";
  return { type: "error", error: { type, message: err.message } };
}
