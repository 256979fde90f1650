/**
 * Routing's contract: a routed name (`model: "auto"`, or any name under `routes:` in the config)
 * stands for candidate models and a policy that picks one per request. One-shot policies (rules,
 * cheapest-that-fits, learned) pick before anything runs; a cascade runs its small model first
 * and decides after (cascade.ts). Every decision says which model answered and why: the
 * `x-inferd-route` header and the ledger row's `route` carry `describeDecision`.
 */
import type { ProviderRequest } from "../providers/provider.js";

/** The response header that carries the decision. */
export const ROUTE_HEADER = "x-inferd-route";

export type PolicyKind = "rules" | "cheapest" | "learned" | "cascade";

/** What a policy may read of a request: its body and who sent it. */
export interface RoutedRequest {
  req: Omit<ProviderRequest, "model">;
  /** The API key's name (undefined without keys). */
  keyName?: string | undefined;
  /** The request's tag (header `x-inferd-tag` or metadata.tag). */
  tag?: string | undefined;
}

/** Where a request went and why. */
export interface RouteDecision {
  policy: PolicyKind;
  /** The candidate (a model name of the config) that answers. */
  model: string;
  /** Why, in a few words ("rule 2: tools", "score 0.31 < 0.5", "escalated: q0.1 p 0.08 < 0.3"). */
  reason: string;
  /** The policy's confidence where it has one (learned: P(needs the large model); cascade: the small answer's confidence). */
  confidence?: number;
  /** A cascade: "accepted" (the small model's answer) or "escalated" (the large model's). */
  outcome?: "accepted" | "escalated";
  /** An accepted cascade: the large model it avoided (what its savings are counted against). */
  over?: string;
}

/** A policy that picks before anything runs. */
export interface OneShotPolicy {
  readonly kind: Exclude<PolicyKind, "cascade">;
  choose(r: RoutedRequest): RouteDecision;
}

/** The decision as one header-safe line (ASCII, no CR/LF): `policy=cascade; model=big; outcome=escalated; confidence=0.08; reason=...`. */
export function describeDecision(d: RouteDecision): string {
  const parts = [`policy=${d.policy}`, `model=${d.model}`];
  if (d.outcome !== undefined) parts.push(`outcome=${d.outcome}`);
  if (d.over !== undefined) parts.push(`over=${d.over}`);
  if (d.confidence !== undefined) parts.push(`confidence=${round(d.confidence)}`);
  parts.push(`reason=${d.reason}`);
  return parts.join("; ").replace(/[^\x20-\x7e]/g, "?");
}

function round(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 10_000) / 10_000) : String(x);
}

/** The prompt's text as policies read it: every message's content (a chat), or the prompt. */
export function promptText(req: Omit<ProviderRequest, "model">): string {
  if (req.input.kind === "chat") return req.input.messages.map((m) => m.content).join("\n");
  return typeof req.input.prompt === "string" ? req.input.prompt : "";
}

/** Prompt tokens as policies estimate them before any tokenizer runs (text length / 4; token ids counted). */
export function promptTokens(req: Omit<ProviderRequest, "model">): number {
  if (req.input.kind === "prompt" && typeof req.input.prompt !== "string") return req.input.prompt.length;
  const t = promptText(req);
  return t.length === 0 ? 0 : Math.max(1, Math.round(t.length / 4));
}
