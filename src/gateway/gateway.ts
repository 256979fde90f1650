/**
 * The gateway: model names as clients see them, each a route to a provider's model with
 * fallbacks. A request goes to its model's provider; if that fails before its first event
 * (nothing has reached the client yet), the next model of the fallback list gets it. After
 * the first event the response is committed: a failure then ends it with an error event.
 * Keys, limits, caches and the ledger come in front of it.
 */
import { InferdError, isInferdError } from "../util/errors.js";
import type { EmbeddingRequest, EmbeddingResult, LocalLoad, Provider, ProviderEvent, ProviderRequest } from "../providers/provider.js";

export interface Route {
  /** The name clients ask for. */
  name: string;
  provider: Provider;
  /** The model as the provider names it. */
  model: string;
  /** Names of other routes to try, in order, when this one fails before its first event. */
  fallbacks: readonly string[];
}

/** A response begun: the first event is in hand, the rest to come. */
export interface Opened {
  /** The route that answered (a fallback's, when the asked one failed). */
  route: Route;
  first: ProviderEvent;
  rest: AsyncIterator<ProviderEvent>;
}

/** Where the gateway reports what a client never sees: a route that failed and was replaced by a fallback. */
export type GatewayLog = (message: string) => void;

export class Gateway {
  private readonly routes = new Map<string, Route>();

  constructor(
    routes: readonly Route[],
    private readonly log: GatewayLog = (m) => process.stderr.write(`[inferd] ${m}\n`),
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
  }

  /** The models clients may name, in configuration order (the first is the default). */
  models(): Route[] {
    return [...this.routes.values()];
  }

  route(name: string): Route {
    const r = this.routes.get(name);
    if (r === undefined) {
      throw new InferdError("model_not_found", `the model "${name}" does not exist; served: ${[...this.routes.keys()].join(", ")}`, { param: "model" });
    }
    return r;
  }

  /**
   * Starts a request on `name`, falling back down its list while a route fails before its
   * first event with an error another model might not have (overloaded, unavailable, an
   * upstream's 429, 5xx or timeout). Throws the last error when none answers.
   */
  async open(name: string, req: Omit<ProviderRequest, "model">): Promise<Opened> {
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
    for (const route of this.chain(name)) {
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
    const route = this.route(name);
    if (route.provider.countTokens === undefined) throw new InferdError("invalid_argument", `model "${name}" (${route.provider.name}) cannot count tokens`, { param: "model" });
    return route.provider.countTokens({ ...req, model: route.model });
  }

  contextWindow(name: string): number | undefined {
    const r = this.route(name);
    return r.provider.contextWindow?.(r.model);
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
