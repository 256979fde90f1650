/**
 * The config's `routes:` checked (each problem one line naming the field) and built into the
 * gateway's routers. A route's candidates are model names of the same file, cheapest first:
 * a cascade's and a learned router's first candidate is the small model, the last the large.
 */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Router } from "../gateway/gateway.js";
import type { TextCheck } from "../routing/answer-validators.js";
import { regexCheck } from "../routing/answer-validators.js";
import { CheapestPolicy, type Candidate } from "../routing/cheapest.js";
import { LearnedPolicy, type PromptScorer } from "../routing/learned-policy.js";
import { RulesPolicy, type Rule } from "../routing/rules.js";
import type { Config, RouteConfig } from "./schema.js";

/** What building routes needs from outside the config: named checks, trained routers, prices. */
export interface RouteParts {
  /** A named answer check, or undefined when there is none of that name. */
  check(name: string): TextCheck | undefined;
  /** The names `check` knows (for the error message). */
  checkNames: readonly string[];
  /** A trained router from its file. */
  scorer(path: string): PromptScorer;
  /** A candidate's context window and per-token price, when known. */
  candidate(name: string): Candidate;
}

const list = (v: string | string[] | undefined) => (v === undefined ? undefined : typeof v === "string" ? [v] : v);

/** Throws the first problem of the config's routes as `bad(field, what)` builds it; resolves learned files against the config's folder. */
export function checkRoutes(config: Config, path: string, parts: Pick<RouteParts, "checkNames">, bad: (where: string, what: string) => Error): void {
  const models = new Set(config.models.map((m) => m.name));
  const seen = new Set<string>();
  for (const [i, r] of (config.routes ?? []).entries()) {
    const at = (f: string) => `routes[${i}]${f ? `.${f}` : ""}`;
    if (models.has(r.name) || seen.has(r.name)) throw bad(at("name"), `"${r.name}" is already the name of a model or route`);
    seen.add(r.name);
    for (const [j, c] of r.candidates.entries()) if (!models.has(c)) throw bad(at(`candidates[${j}]`), `"${c}" is not a model`);
    const pair = r.policy === "cascade" || r.policy === "learned";
    if (pair && r.candidates.length !== 2) throw bad(at("candidates"), `a ${r.policy} route has two candidates, the small model then the large one`);
    const own = { rules: r.rules, learned: r.learned, cascade: r.cascade } as const;
    for (const k of Object.keys(own) as (keyof typeof own)[]) {
      if (own[k] !== undefined && k !== r.policy) throw bad(at(k), `only a ${k} route takes "${k}" (this one is ${r.policy})`);
    }
    switch (r.policy) {
      case "rules":
        if (r.rules === undefined || r.rules.length === 0) throw bad(at("rules"), "a rules route needs at least one rule");
        for (const [j, rule] of r.rules.entries()) if (!r.candidates.includes(rule.model)) throw bad(at(`rules[${j}].model`), `"${rule.model}" is not a candidate of this route`);
        if (r.default !== undefined && !r.candidates.includes(r.default)) throw bad(at("default"), `"${r.default}" is not a candidate of this route`);
        break;
      case "learned":
        if (r.learned === undefined) throw bad(at("learned"), "a learned route needs learned.file (from `inferd route train`)");
        r.learned.file = isAbsolute(r.learned.file) ? r.learned.file : resolve(dirname(path), r.learned.file);
        if (!existsSync(r.learned.file)) throw bad(at("learned.file"), `file not found: ${r.learned.file}`);
        break;
      case "cascade": {
        const c = r.cascade ?? {};
        if (c.check !== undefined && !parts.checkNames.includes(c.check)) throw bad(at("cascade.check"), `unknown check "${c.check}" (${parts.checkNames.join(", ")})`);
        if (c.regex !== undefined) {
          try {
            new RegExp(c.regex);
          } catch (e) {
            throw bad(at("cascade.regex"), e instanceof Error ? e.message : String(e));
          }
        }
        break;
      }
      case "cheapest":
        break;
    }
    if (r.policy !== "rules" && r.default !== undefined) throw bad(at("default"), `only a rules route takes "default"`);
  }
}

/** Defaults of a cascade: the 10th percentile of token probabilities (Gupta et al.), accepted from 0.3. */
export const CASCADE_DEFAULTS = { quantile: 0.1, threshold: 0.3 } as const;

function router(r: RouteConfig, parts: RouteParts): Router {
  const base = { name: r.name, candidates: r.candidates };
  const small = r.candidates[0]!;
  const large = r.candidates[r.candidates.length - 1]!;
  switch (r.policy) {
    case "rules": {
      const rules: Rule[] = r.rules!.map((x) => ({
        model: x.model,
        when: {
          ...(x.when.min_prompt_tokens !== undefined ? { minPromptTokens: x.when.min_prompt_tokens } : {}),
          ...(x.when.max_prompt_tokens !== undefined ? { maxPromptTokens: x.when.max_prompt_tokens } : {}),
          ...(x.when.tools !== undefined ? { tools: x.when.tools } : {}),
          ...(x.when.json_schema !== undefined ? { jsonSchema: x.when.json_schema } : {}),
          ...(x.when.tag !== undefined ? { tag: list(x.when.tag)! } : {}),
          ...(x.when.key !== undefined ? { key: list(x.when.key)! } : {}),
        },
      }));
      return { ...base, policy: new RulesPolicy(rules, r.default ?? large) };
    }
    case "cheapest":
      return { ...base, policy: new CheapestPolicy(r.candidates.map((c) => parts.candidate(c))) };
    case "learned":
      return { ...base, policy: new LearnedPolicy(parts.scorer(r.learned!.file), small, large, r.learned!.threshold ?? 0.5) };
    case "cascade": {
      const c = r.cascade ?? {};
      const checks: TextCheck[] = [];
      if (c.check !== undefined) checks.push(parts.check(c.check)!);
      if (c.regex !== undefined) checks.push(regexCheck(new RegExp(c.regex)));
      return { ...base, policy: { kind: "cascade", spec: { small, large, quantile: c.quantile ?? CASCADE_DEFAULTS.quantile, threshold: c.threshold ?? CASCADE_DEFAULTS.threshold, checks } } };
    }
  }
}

export function buildRouters(config: Config, parts: RouteParts): Router[] {
  return (config.routes ?? []).map((r) => router(r, parts));
}
