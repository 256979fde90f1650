/**
 * What each error kind means over HTTP: status, OpenAI's error `type` and `code`. The server
 * writes errors with it; the gateway's accounting records the status a client got with it.
 */
import { isInferdError, type InferdErrorKind } from "./errors.js";

/** kind -> [HTTP status, OpenAI error type, code]. */
export const ERROR_STATUS: Record<InferdErrorKind, [number, string, string | null]> = {
  invalid_argument: [400, "invalid_request_error", null],
  context_overflow: [400, "invalid_request_error", "context_length_exceeded"],
  model_not_found: [404, "invalid_request_error", "model_not_found"],
  invalid_model: [500, "server_error", null],
  download_failed: [502, "server_error", null],
  offline: [503, "server_error", null],
  overloaded: [429, "server_overloaded", "overloaded"],
  rate_limited: [429, "requests", "rate_limit_exceeded"],
  quota_exceeded: [429, "insufficient_quota", "insufficient_quota"],
  aborted: [499, "request_cancelled", null],
  unauthorized: [401, "authentication_error", "invalid_api_key"],
  upstream: [502, "upstream_error", null],
  unavailable: [503, "server_error", "unavailable"],
  internal: [500, "server_error", null],
};

/** The HTTP status and error code a client gets for `e` (an unknown error is a 500). */
export function errorStatus(e: unknown): { status: number; code: string } {
  if (!isInferdError(e)) return { status: 500, code: "internal" };
  const [status, , code] = ERROR_STATUS[e.kind];
  return { status: e.details.status ?? status, code: e.details.code ?? code ?? e.kind };
}
