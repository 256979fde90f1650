/**
 * One ledger row: everything the gateway knows about one request once it has ended, whether it
 * succeeded, failed, was refused or was cancelled. The ledger stores rows as they are given; the
 * gateway builds them (tokens from the provider's `Usage`, see `usageTokens`).
 */
import type { FinishReason, Usage } from "../providers/provider.js";

/**
 * How a request ended, as the ledger's queries and a dashboard's filters see it:
 * - "ok": answered in full (any 2xx; a "length" finish is still ok);
 * - "error": a provider or inferd failed while answering (5xx, an upstream's error, a stream cut);
 * - "refused": turned away before any provider ran (bad request, auth, rate limit, overload);
 * - "cancelled": the client went away or the server shut down before the end (finish "abort").
 */
export type Outcome = "ok" | "error" | "refused" | "cancelled";

export const OUTCOMES: readonly Outcome[] = ["ok", "error", "refused", "cancelled"];

/** One request, as the ledger stores it (field names map 1:1 onto snake_case columns). */
export interface LedgerRow {
  /** When the request arrived, ms since the Unix epoch (an integer). */
  ts: number;
  /** The gateway's request id; unique in the ledger (a second row with the same id is not stored). */
  requestId: string;
  /** The API key's id (not its name, which the key store holds); null without a key. */
  keyId: string | null;
  /** The request's `user` field (OpenAI's end-user id, Anthropic's metadata.user_id); null when absent. */
  user: string | null;
  /** The request's tag (inferd's grouping label), null when absent. */
  tag: string | null;
  /** The model the client asked for, as it asked (an alias, a route name, a provider's model id). */
  modelRequested: string;
  /** The provider that answered (its config name); null when none did (refused, all failed). */
  provider: string | null;
  /** The model that provider ran; null when none did. */
  model: string | null;
  /** Every prompt token the model read (Usage.inputTokens: cached and cache-written included). */
  inputTokens: number;
  /** Of inputTokens, read from a prompt cache. */
  cachedInputTokens: number;
  /** Of inputTokens, written to a prompt cache. */
  cacheWriteTokens: number;
  /** Of cacheWriteTokens, written for one hour. */
  cacheWrite1hTokens: number;
  /** Every generated token, reasoning included. */
  outputTokens: number;
  /** Of outputTokens, reasoning tokens. */
  reasoningTokens: number;
  /** What the request cost in USD; null when its price is unknown (0 is a known price: free). */
  costUsd: number | null;
  /** What caching saved in USD against the uncached price; null when unknown. */
  savedUsd: number | null;
  /** Ms waiting for capacity before a provider started on it. */
  queueMs: number;
  /** Ms from arrival to the first output token; null when none came. */
  ttftMs: number | null;
  /** Ms from arrival to the end of the response (or of the failure). */
  totalMs: number;
  /** The prompt cache held part of the prompt, or a response cache answered the request. */
  cacheHit: boolean;
  /** The token counts are inferd's own estimate (the upstream reported no usage). */
  estimated: boolean;
  /** Why the (first) choice ended; null when nothing was generated. */
  finishReason: FinishReason | null;
  /** The HTTP status the client got (200 for a stream that later failed: errorCode says so). */
  status: number;
  /** inferd's or the upstream's error code ("rate_limited", "upstream_timeout"...); null on success. */
  errorCode: string | null;
  /** Which policy or route decided where the request went (free text); null without routing. */
  route: string | null;
  outcome: Outcome;
}

/**
 * The six token counts of a Usage, under the row's field names: every token the request paid
 * for, its prior calls' (a cascade's rejected small answer) included.
 */
export function usageTokens(u: Usage): Pick<LedgerRow, "inputTokens" | "cachedInputTokens" | "cacheWriteTokens" | "cacheWrite1hTokens" | "outputTokens" | "reasoningTokens"> {
  const t = {
    inputTokens: u.inputTokens,
    cachedInputTokens: u.cachedInputTokens,
    cacheWriteTokens: u.cacheWriteTokens,
    cacheWrite1hTokens: u.cacheWrite1hTokens,
    outputTokens: u.outputTokens,
    reasoningTokens: u.reasoningTokens,
  };
  for (const p of u.prior ?? []) {
    const q = usageTokens(p);
    for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += q[k];
  }
  return t;
}

const FINISH: readonly FinishReason[] = ["stop", "length", "tool_calls", "content_filter", "abort"];
const TOKEN_FIELDS = ["inputTokens", "cachedInputTokens", "cacheWriteTokens", "cacheWrite1hTokens", "outputTokens", "reasoningTokens"] as const;

/**
 * Why `row` cannot be stored, or undefined when it can. Checked at append, so a bad row is
 * refused to its caller instead of failing (and blocking) a whole batch in the database: the
 * rules here are the schema's constraints plus what PostgreSQL rejects (NUL in text).
 */
export function rowProblem(row: LedgerRow): string | undefined {
  if (!Number.isSafeInteger(row.ts) || row.ts < 0) return `ts must be a non-negative integer (ms epoch), got ${row.ts}`;
  for (const f of ["requestId", "modelRequested"] as const) {
    const p = textProblem(f, row[f], false);
    if (p) return p;
  }
  for (const f of ["keyId", "user", "tag", "provider", "model", "errorCode", "route"] as const) {
    const p = textProblem(f, row[f], true);
    if (p) return p;
  }
  if (row.requestId.length === 0) return "requestId must not be empty";
  for (const f of TOKEN_FIELDS) {
    if (!Number.isSafeInteger(row[f]) || row[f] < 0) return `${f} must be a non-negative integer, got ${row[f]}`;
  }
  for (const f of ["costUsd", "savedUsd", "ttftMs"] as const) {
    const v = row[f];
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || (f === "ttftMs" && v < 0))) return `${f} must be a finite number or null, got ${v}`;
  }
  for (const f of ["queueMs", "totalMs"] as const) {
    if (typeof row[f] !== "number" || !Number.isFinite(row[f]) || row[f] < 0) return `${f} must be a non-negative number, got ${row[f]}`;
  }
  for (const f of ["cacheHit", "estimated"] as const) {
    if (typeof row[f] !== "boolean") return `${f} must be a boolean, got ${String(row[f])}`;
  }
  if (row.finishReason !== null && !FINISH.includes(row.finishReason)) return `finishReason must be one of ${FINISH.join(", ")} or null, got ${row.finishReason}`;
  if (!Number.isInteger(row.status) || row.status < 100 || row.status > 599) return `status must be an HTTP status, got ${row.status}`;
  if (!OUTCOMES.includes(row.outcome)) return `outcome must be one of ${OUTCOMES.join(", ")}, got ${row.outcome}`;
  return undefined;
}

function textProblem(field: string, v: unknown, nullable: boolean): string | undefined {
  if (v === null && nullable) return undefined;
  if (typeof v !== "string") return `${field} must be a string${nullable ? " or null" : ""}, got ${typeof v}`;
  // PostgreSQL's text cannot hold NUL; refusing it on both stores keeps them equal
  if (v.includes("\u0000")) return `${field} must not contain NUL characters`;
  return undefined;
}
