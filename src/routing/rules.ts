/**
 * The rules policy: the first rule whose conditions all hold picks the model; none: the
 * default. Conditions read only what is known before anything runs (prompt length, tools or a
 * JSON schema asked for, the request's tag, the key), so a decision costs microseconds.
 */
import { promptTokens, type OneShotPolicy, type RoutedRequest, type RouteDecision } from "./policy.js";

export interface RuleCondition {
  /** Estimated prompt tokens (text length / 4) at least / at most this. */
  minPromptTokens?: number;
  maxPromptTokens?: number;
  /** The request carries tools (true) or none (false). */
  tools?: boolean;
  /** The request asks for JSON following a schema (true) or not (false). */
  jsonSchema?: boolean;
  /** The request's tag is one of these. */
  tag?: readonly string[];
  /** The request's key (by name) is one of these. */
  key?: readonly string[];
}

export interface Rule {
  when: RuleCondition;
  model: string;
}

/** The names of the conditions a rule holds, in a fixed order (for the decision's reason). */
function holds(c: RuleCondition, r: RoutedRequest): string[] | undefined {
  const met: string[] = [];
  const tokens = promptTokens(r.req);
  if (c.minPromptTokens !== undefined) {
    if (tokens < c.minPromptTokens) return undefined;
    met.push(`prompt ~${tokens} >= ${c.minPromptTokens} tokens`);
  }
  if (c.maxPromptTokens !== undefined) {
    if (tokens > c.maxPromptTokens) return undefined;
    met.push(`prompt ~${tokens} <= ${c.maxPromptTokens} tokens`);
  }
  if (c.tools !== undefined) {
    const has = (r.req.tools?.length ?? 0) > 0 && r.req.toolChoice !== "none";
    if (has !== c.tools) return undefined;
    met.push(has ? "tools" : "no tools");
  }
  if (c.jsonSchema !== undefined) {
    const has = r.req.responseFormat?.type === "json_schema";
    if (has !== c.jsonSchema) return undefined;
    met.push(has ? "json_schema" : "no json_schema");
  }
  if (c.tag !== undefined) {
    if (r.tag === undefined || !c.tag.includes(r.tag)) return undefined;
    met.push(`tag ${r.tag}`);
  }
  if (c.key !== undefined) {
    if (r.keyName === undefined || !c.key.includes(r.keyName)) return undefined;
    met.push(`key ${r.keyName}`);
  }
  return met;
}

export class RulesPolicy implements OneShotPolicy {
  readonly kind = "rules" as const;

  constructor(
    private readonly rules: readonly Rule[],
    private readonly fallback: string,
  ) {}

  choose(r: RoutedRequest): RouteDecision {
    for (const [i, rule] of this.rules.entries()) {
      const met = holds(rule.when, r);
      if (met !== undefined) return { policy: "rules", model: rule.model, reason: `rule ${i + 1}${met.length > 0 ? `: ${met.join(", ")}` : ""}` };
    }
    return { policy: "rules", model: this.fallback, reason: "no rule held: default" };
  }
}
