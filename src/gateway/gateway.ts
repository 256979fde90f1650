/**
 * The gateway: model names as clients see them, each a route to a provider's model with
 * fallbacks. A request goes to its model's provider; if that fails before its first event
 * (nothing has reached the client yet), the next model of the fallback list gets it. After
 * the first event the response is committed: a failure then ends it with an error event.
 * Keys, limits, caches and the ledger come in front of it.
 */
import { InferdError, isInferdError } from "../util/errors.js";
import type { EmbeddingRequest, EmbeddingResult, LocalLoad, Provider, ProviderEvent, ProviderRequest } from "../providers/provider.js";
import { runCascade, type CascadeSpec } from "../routing/cascade.js";
import type { OneShotPolicy, PolicyKind, RouteDecision, RoutedRequest } from "../routing/policy.js";

export interface Route {
  /** The name clients ask for. */
  name: string;
  provider: Provider;
  /** The model as the provider names it. */
  model: string;
  /** Names of other routes to try, in order, when this one fails before its first event. */
  fallbacks: readonly string[];
}

/**
 * A routed name: clients ask for it (`model: "auto"`), a policy picks one of its candidates
 * (model names of this gateway) per request. See src/routing/.
 */
export interface Router {
  name: string;
  /** The candidates, cheapest (small) first. */
  candidates: readonly string[];
  policy: OneShotPolicy | { kind: "cascade"; spec: CascadeSpec };
}

/** A response begun: the first event is in hand, the rest to come. */
export interface Opened {
  /** The route that answered (a fallback's, when the asked one failed). */
  route: Route;
  first: ProviderEvent;
  rest: AsyncIterator<ProviderEvent>;
  /** Where a routed name sent the request, and why (undefined for a plain model). */
  decision?: RouteDecision;
}

/** Who sent a request, as routing policies may read it. */
export type Sender = Omit<RoutedRequest, "req">;

/** Where the gateway reports what a client never sees: a route that failed and was replaced by a fallback. */
export type GatewayLog = (message: string) => void;

export class Gateway {
  private readonly routes = new Map<string, Route>();
  private readonly routers = new Map<string, Router>();

  constructor(
    routes: readonly Route[],
    private readonly log: GatewayLog = (m) => process.stderr.write(`[inferd] ${m}\n`),
    routers: readonly Router[] = [],
  ) {
    for (const r of routes) {
      if (this.routes.has(r.name)) throw new InferdError("invalid_argument", `two models are named "${r.name}"`);
      this.routes.set(r.name, r);
    }
    for (const r of routes) {
      for (const f of r.fallbacks) {
        if (!this.routes.has(f)) throw new InferdError("invalid_argument", `model "${r.name}" falls back to "${f}", which is not a model`);
      }
    }
    for (const r of routers) {
      if (this.routes.has(r.name) || this.routers.has(r.name)) throw new InferdError("invalid_argument", `the route "${r.name}" has the name of another model or route`);
      for (const c of r.candidates) {
        if (!this.routes.has(c)) throw new InferdError("invalid_argument", `route "${r.name}" has the candidate "${c}", which is not a model`);
      }
      this.routers.set(r.name, r);
    }
  }

  /** The models clients may name, in configuration order (the first is the default); routed names are `routed()`. */
  models(): Route[] {
    return [...this.routes.values()];
  }

  /** Every name clients may ask for: the models, then the routes. */
  names(): string[] {
    return [...this.routes.keys(), ...this.routers.keys()];
  }

  /** Throws the 404 of a name that is neither a model nor a route. */
  check(name: string): void {
    if (!this.routers.has(name)) this.route(name);
  }

  route(name: string): Route {
    const r = this.routes.get(name);
    if (r === undefined) {
      throw new InferdError("model_not_found", `the model "${name}" does not exist; served: ${this.names().join(", ")}`, { param: "model" });
    }
    return r;
  }

  /** The models a name may end up on: itself, or a route's candidates (for a worst-case reservation). */
  candidates(name: string): Route[] {
    const router = this.routers.get(name);
    return router === undefined ? [this.route(name)] : router.candidates.map((c) => this.route(c));
  }

  /** A route's policy; undefined for a plain model. */
  policyOf(name: string): PolicyKind | undefined {
    return this.routers.get(name)?.policy.kind;
  }

  /** Who owns a name in /v1/models: a model's provider, or "inferd" for a route. */
  ownerOf(name: string): string {
    return this.routers.has(name) ? "inferd" : this.route(name).provider.name;
  }

  /**
   * Starts a request on a model or a route: a route's policy picks the candidate (a cascade
   * runs its small one first and may escalate), then that model's fallbacks apply as usual.
   */
  async open(name: string, req: Omit<ProviderRequest, "model">, sender: Sender = {}): Promise<Opened> {
    const router = this.routers.get(name);
    if (router === undefined) return this.openModel(name, req);
    const policy = router.policy;
    if (policy.kind === "cascade") {
      const { opened, decision } = await runCascade(policy.spec, req, (m, r) => this.openModel(m, r));
      return { ...opened, decision };
    }
    const decision = policy.choose({ req, ...sender });
    return { ...(await this.openModel(decision.model, req)), decision };
  }

  /**
   * Starts a request on `name`, falling back down its list while a route fails before its
   * first event with an error another model might not have (overloaded, unavailable, an
   * upstream's 429, 5xx or timeout). Throws the last error when none answers.
   */
  private async openModel(name: string, req: Omit<ProviderRequest, "model">): Promise<Opened> {
    const tried: string[] = [];
    let last: unknown;
    const chain = [...this.chain(name)];
    for (const [i, route] of chain.entries()) {
      tried.push(route.name);
      const it = route.provider.generate({ ...req, model: route.model })[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        if (first.done) throw new InferdError("upstream", `${route.provider.name} ended the response with no event`, { status: 502 });
        return { route, first: first.value, rest: it };
      } catch (e) {
        last = e;
        if (req.signal.aborted || !fallsBack(e)) throw e;
        if (i + 1 < chain.length) this.log(`${route.name} (${route.provider.name}) failed before answering, trying ${chain[i + 1]!.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    throw last ?? new InferdError("unavailable", `no model answered (tried ${tried.join(", ")})`);
  }

  async embed(name: string, req: Omit<EmbeddingRequest, "model">): Promise<{ route: Route; result: EmbeddingResult }> {
    let last: unknown;
    // a route embeds with its first candidate
    for (const route of this.chain(this.candidates(name)[0]!.name)) {
      if (route.provider.embed === undefined) {
        last = new InferdError("invalid_argument", `model "${route.name}" (${route.provider.name}) does not embed`, { param: "model" });
        continue;
      }
      try {
        return { route, result: await route.provider.embed({ ...req, model: route.model }) };
      } catch (e) {
        last = e;
        if (req.signal.aborted || !fallsBack(e)) throw e;
        this.log(`${route.name} (${route.provider.name}) failed to embed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    throw last;
  }

  async countTokens(name: string, req: Omit<ProviderRequest, "model">): Promise<number> {
    // a route counts as its first (small) candidate does
    const route = this.candidates(name)[0]!;
    if (route.provider.countTokens === undefined) throw new InferdError("invalid_argument", `model "${name}" (${route.provider.name}) cannot count tokens`, { param: "model" });
    return route.provider.countTokens({ ...req, model: route.model });
  }

  /** A model's context window; a route's is its largest candidate's (unknown if any is unknown). */
  contextWindow(name: string): number | undefined {
    let most = 0;
    for (const r of this.candidates(name)) {
      const w = r.provider.contextWindow?.(r.model);
      if (w === undefined) return undefined;
      most = Math.max(most, w);
    }
    return most;
  }

  /** Load of each route served by a model on this machine now (metrics' gauges). */
  loads(): { name: string; load: LocalLoad }[] {
    const out: { name: string; load: LocalLoad }[] = [];
    for (const r of this.routes.values()) {
      const load = r.provider.load?.(r.model);
      if (load !== undefined) out.push({ name: r.name, load });
    }
    return out;
  }

  /** Closes every provider once. */
  async close(): Promise<void> {
    for (const p of new Set([...this.routes.values()].map((r) => r.provider))) await p.close();
  }

  /** The route asked for, then its fallbacks (each once, so fallback cycles end). */
  private *chain(name: string): Generator<Route> {
    const first = this.route(name);
    const seen = new Set([first.name]);
    yield first;
    for (const f of first.fallbacks) {
      if (seen.has(f)) continue;
      seen.add(f);
      yield this.route(f);
    }
  }
}

/** Whether another model may succeed where this error failed. */
function fallsBack(e: unknown): boolean {
  if (!isInferdError(e)) return false;
  switch (e.kind) {
    case "overloaded":
    case "unavailable":
      return true;
    case "upstream":
      return e.details.retryable === true;
    case "invalid_argument":
    case "context_overflow":
    case "model_not_found":
    case "invalid_model":
    case "download_failed":
    case "offline":
    case "aborted":
    case "unauthorized":
    case "rate_limited": // a key's own limits: another model answers for the same key
    case "quota_exceeded":
    case "internal":
      return false;
  }
}
