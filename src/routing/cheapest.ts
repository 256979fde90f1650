/**
 * Cheapest-that-fits: of the candidates whose context window holds the request (estimated
 * prompt plus its max_tokens) and which do what it asks (tools, a JSON schema), the one whose
 * price for this request is lowest. Unpriced candidates come after priced ones (a cost we cannot
 * state is not assumed to be zero); among them, configuration order.
 */
import { InferdError } from "../util/errors.js";
import { promptTokens, type OneShotPolicy, type RoutedRequest, type RouteDecision } from "./policy.js";

/** What the policy knows of a candidate. */
export interface Candidate {
  name: string;
  /** Tokens of context, when known (unknown: assumed to fit). */
  contextWindow?: number | undefined;
  /** USD per 1M input and output tokens, when priced. */
  price?: { input: number; output: number } | undefined;
  /** What it cannot do (default: it does everything a request may ask). */
  lacks?: readonly ("tools" | "json_schema")[];
}

/** Output tokens assumed for a request without max_tokens, to compare prices. */
const ASSUMED_OUTPUT = 256;

export class CheapestPolicy implements OneShotPolicy {
  readonly kind = "cheapest" as const;

  constructor(private readonly candidates: readonly Candidate[]) {
    if (candidates.length === 0) throw new InferdError("invalid_argument", "cheapest-that-fits needs at least one candidate");
  }

  choose(r: RoutedRequest): RouteDecision {
    const prompt = promptTokens(r.req);
    const output = (r.req.maxTokens ?? ASSUMED_OUTPUT) * r.req.n;
    const needsTools = (r.req.tools?.length ?? 0) > 0 && r.req.toolChoice !== "none";
    const needsSchema = r.req.responseFormat?.type === "json_schema";
    const fits = this.candidates.filter(
      (c) => (c.contextWindow === undefined || prompt + (r.req.maxTokens ?? 0) <= c.contextWindow) && !(needsTools && c.lacks?.includes("tools")) && !(needsSchema && c.lacks?.includes("json_schema")),
    );
    const priceOf = (c: Candidate) => (c.price === undefined ? Infinity : (prompt * c.price.input + output * c.price.output) / 1e6);
    // stable: equal prices keep configuration order
    const best = fits.map((c, i) => ({ c, i, usd: priceOf(c) })).sort((a, b) => a.usd - b.usd || a.i - b.i)[0];
    if (best === undefined) {
      throw new InferdError("context_overflow", `no candidate fits this request (~${prompt} prompt tokens + ${r.req.maxTokens ?? 0} max_tokens${needsTools ? ", tools" : ""}${needsSchema ? ", json_schema" : ""})`);
    }
    const usd = Number.isFinite(best.usd) ? `~$${best.usd.toPrecision(3)}` : "unpriced";
    return { policy: "cheapest", model: best.c.name, reason: `cheapest of ${fits.length} that fit (${usd})` };
  }
}
