/**
 * The cascade: the small model answers first, whole (no byte reaches the client yet); its
 * answer is accepted when every choice passes the request's constraints (JSON, schema, tool
 * calls), the route's own check, and its confidence (a low quantile of its token
 * probabilities) reaches the route's threshold. Otherwise the large model answers, and the
 * client sees only that answer. A streaming client's first byte therefore waits for the whole
 * small answer: that is a cascade's TTFT cost (BENCHMARKS.md measures it).
 *
 * The small call is paid either way: an escalated request's usage carries it in `prior`, so the
 * price and the ledger row count both calls.
 */
import type { Opened } from "../gateway/gateway.js";
import type { LogprobEntry, ProviderEvent, ProviderRequest, Usage } from "../providers/provider.js";
import { addToolCall } from "../providers/tool-calls.js";
import { formatProblem, type AnswerChoice, type TextCheck } from "./answer-validators.js";
import { quantileProbability } from "./confidence.js";
import type { RouteDecision } from "./policy.js";

export interface CascadeSpec {
  small: string;
  large: string;
  /** The quantile of token probabilities that is the answer's confidence (0: the least likely token). */
  quantile: number;
  /** Accept when the confidence is at least this (0..1); 0 accepts on the checks alone. */
  threshold: number;
  /** The route's own checks on each choice's text (regex, answer format). */
  checks: readonly TextCheck[];
}

type Open = (model: string, req: Omit<ProviderRequest, "model">) => Promise<Opened>;

interface Collected {
  events: ProviderEvent[];
  choices: (AnswerChoice & { logprobs: LogprobEntry[]; finish: string | undefined })[];
  usage: Usage | undefined;
}

async function collect(opened: Opened, n: number): Promise<Collected> {
  const events: ProviderEvent[] = [opened.first];
  for (let r = await opened.rest.next(); !r.done; r = await opened.rest.next()) events.push(r.value);
  const choices = Array.from({ length: n }, () => ({ text: "", calls: [] as AnswerChoice["calls"], logprobs: [] as LogprobEntry[], finish: undefined as string | undefined }));
  let usage: Usage | undefined;
  for (const e of events) {
    switch (e.type) {
      case "text":
        choices[e.choice]!.text += e.text;
        if (e.logprobs) choices[e.choice]!.logprobs.push(...e.logprobs);
        break;
      case "tool_call":
        addToolCall(choices[e.choice]!.calls, e, "call_");
        break;
      case "finish":
        choices[e.choice]!.finish = e.reason;
        break;
      case "usage":
        usage = e.usage;
        break;
      case "start":
        break;
    }
  }
  return { events, choices, usage };
}

/** Whether the small answer is accepted, and why (the confidence is the lowest of its choices'). */
export function judge(spec: CascadeSpec, req: Omit<ProviderRequest, "model">, choices: Collected["choices"]): { accept: boolean; reason: string; confidence: number | undefined } {
  let confidence: number | undefined;
  for (const [i, c] of choices.entries()) {
    const which = choices.length > 1 ? `choice ${i}: ` : "";
    if (c.finish === "abort") return { accept: false, reason: `${which}cut`, confidence };
    const problem = formatProblem(req, c);
    if (problem !== undefined) return { accept: false, reason: which + problem, confidence };
    for (const check of spec.checks) {
      const r = check(c.text);
      if (r !== true) return { accept: false, reason: which + r, confidence };
    }
    const p = quantileProbability(c.logprobs, spec.quantile);
    if (p !== undefined) confidence = confidence === undefined ? p : Math.min(confidence, p);
  }
  const label = spec.quantile === 0 ? "min p" : `q${spec.quantile} p`;
  if (spec.threshold > 0) {
    if (confidence === undefined) return { accept: false, reason: "no tokens to judge", confidence };
    if (confidence < spec.threshold) return { accept: false, reason: `${label} ${confidence.toPrecision(3)} < ${spec.threshold}`, confidence };
  }
  return { accept: true, reason: confidence === undefined ? "checks passed" : `checks passed, ${label} ${confidence.toPrecision(3)} >= ${spec.threshold}`, confidence };
}

/** Events as a response from `events[1..]`, the client's logprobs kept only if it asked for them. */
function replay(route: Opened["route"], events: ProviderEvent[], keepLogprobs: boolean): Opened {
  const shown = keepLogprobs ? events : events.map((e) => (e.type === "text" && e.logprobs !== undefined ? { type: "text" as const, choice: e.choice, text: e.text } : e));
  let i = 1;
  return {
    route,
    first: shown[0]!,
    rest: { next: async () => (i < shown.length ? { done: false, value: shown[i++]! } : { done: true, value: undefined }) },
  };
}

/** `rest` with the prior calls' usage attached to its usage event. */
function withPrior(opened: Opened, prior: Usage): Opened {
  const attach = (e: ProviderEvent): ProviderEvent => (e.type === "usage" ? { type: "usage", usage: { ...e.usage, prior: [...(e.usage.prior ?? []), prior] } } : e);
  const rest = opened.rest;
  return {
    route: opened.route,
    first: attach(opened.first),
    rest: {
      async next() {
        const r = await rest.next();
        return r.done ? r : { done: false, value: attach(r.value) };
      },
    },
  };
}

/** Runs the cascade: the opened response the client gets, and the decision. */
export async function runCascade(spec: CascadeSpec, req: Omit<ProviderRequest, "model">, open: Open): Promise<{ opened: Opened; decision: RouteDecision }> {
  const decision = (model: string, outcome: "accepted" | "escalated", reason: string, confidence?: number): RouteDecision => ({
    policy: "cascade",
    model,
    outcome,
    reason,
    ...(outcome === "accepted" ? { over: spec.large } : {}),
    ...(confidence !== undefined ? { confidence } : {}),
  });
  let small: Collected;
  let smallRoute: Opened["route"];
  try {
    // the small answer is judged whole, with a logprob per token when its confidence counts
    // (they cost: llama.cpp hands over the whole distribution per token)
    const logprobs = spec.threshold > 0 ? (req.logprobs ?? 0) : req.logprobs;
    const opened = await open(spec.small, { ...req, ...(logprobs !== undefined ? { logprobs } : {}), stream: false });
    smallRoute = opened.route;
    small = await collect(opened, req.n);
  } catch (e) {
    if (req.signal.aborted) throw e;
    const opened = await open(spec.large, req);
    return { opened, decision: decision(opened.route.name, "escalated", `${spec.small} failed: ${e instanceof Error ? e.message : String(e)}`) };
  }
  const verdict = judge(spec, req, small.choices);
  // a client gone (or a shutdown) during the small answer gets it as it is: nothing to escalate for
  if (verdict.accept || req.signal.aborted || small.usage === undefined) {
    return { opened: replay(smallRoute, small.events, req.logprobs !== undefined), decision: decision(smallRoute.name, "accepted", verdict.accept ? verdict.reason : `not escalated (cancelled): ${verdict.reason}`, verdict.confidence) };
  }
  try {
    const large = await open(spec.large, req);
    return { opened: withPrior(large, small.usage), decision: decision(large.route.name, "escalated", verdict.reason, verdict.confidence) };
  } catch (e) {
    if (req.signal.aborted) throw e;
    // a degraded answer beats an error: the small one, saying so
    return {
      opened: replay(smallRoute, small.events, req.logprobs !== undefined),
      decision: decision(smallRoute.name, "accepted", `${verdict.reason}; escalation failed: ${e instanceof Error ? e.message : String(e)}`, verdict.confidence),
    };
  }
}
