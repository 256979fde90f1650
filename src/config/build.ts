/**
 * A checked config as a running gateway: one local provider over a model pool (loaded on first
 * use), one provider per upstream with its own pooled client, timeouts, retries and breaker.
 */
import type { EngineOptions } from "../engine/engine.js";
import { Gateway, type Route } from "../gateway/gateway.js";
import { AnthropicProvider } from "../providers/anthropic/anthropic-provider.js";
import { Upstream } from "../providers/http/upstream.js";
import { LocalProvider } from "../providers/local/local-provider.js";
import { defaultMemoryBudgetBytes } from "../providers/local/memory-estimate.js";
import { DEFAULT_TTL_MS, ModelPool } from "../providers/local/model-pool.js";
import { OpenAiProvider } from "../providers/openai/openai-provider.js";
import type { Provider } from "../providers/provider.js";
import { priceBook } from "../pricing/price-book.js";
import { priceTable } from "../pricing/table.js";
import { CHECK_NAMES, loadScorer, namedCheck } from "../routing/route-parts.js";
import type { LoadedConfig } from "./load.js";
import { buildRouters, type RouteParts } from "./routes.js";
import type { ModelConfig, UpstreamConfig } from "./schema.js";

const PUBLIC_BASE: Record<UpstreamConfig["type"], string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com/v1",
};

/** Engine settings of a local model from its config entry (`threads` from the command line wins). */
function engineOptions(m: ModelConfig, threads: number | undefined): EngineOptions {
  return {
    model: m.model,
    ...(m.context !== undefined ? { contextSize: m.context } : {}),
    ...(m.max_sequences !== undefined ? { maxSequences: m.max_sequences } : {}),
    ...(m.batch_size !== undefined ? { batchSize: m.batch_size } : {}),
    ...((threads ?? m.threads) !== undefined ? { threads: threads ?? m.threads } : {}),
    ...(m.max_queue !== undefined ? { maxWaiting: m.max_queue } : {}),
    ...(m.prefix_cache !== undefined ? { prefixCache: m.prefix_cache } : {}),
    progress: true,
  };
}

/** The fields that are set (the client's defaults stand for the others). */
function defined<T extends Record<string, number | undefined>>(o: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: number };
}

type Counter = (text: string) => Promise<number>;

function upstreamProvider(name: string, p: UpstreamConfig, key: string | undefined, contextWindows: Record<string, number>, tokenizers: Record<string, Counter>): Provider {
  const client = new Upstream({
    name,
    baseUrl: p.base_url ?? PUBLIC_BASE[p.type],
    ...(key !== undefined ? { apiKey: key } : {}),
    // Anthropic takes its key in a header of its own
    auth: p.type === "anthropic" ? { header: "x-api-key" } : "bearer",
    ...(p.headers !== undefined ? { headers: p.headers } : {}),
    timeouts: defined({ connectMs: p.timeouts?.connect_ms, firstByteMs: p.timeouts?.first_byte_ms, idleMs: p.timeouts?.idle_ms, totalMs: p.timeouts?.total_ms }),
    retries: defined({ max: p.retries?.max, baseMs: p.retries?.base_ms, capMs: p.retries?.cap_ms }),
    circuit: defined({ failures: p.circuit?.failures, cooldownMs: p.circuit?.cooldown_ms }),
  });
  switch (p.type) {
    case "openai":
      return new OpenAiProvider({ name, client, contextWindows, tokenizers });
    case "anthropic":
      return new AnthropicProvider({ name, client, contextWindows });
  }
}

export function buildGateway(loaded: LoadedConfig, opts: { threads?: number } = {}): Gateway {
  const { config, keys } = loaded;
  const locals = config.models.filter((m) => m.provider === "local");
  const providers = new Map<string, Provider>();
  let pool: ModelPool | undefined;
  if (locals.length > 0) {
    pool = new ModelPool(
      locals.map((m) => ({ name: m.name, options: engineOptions(m, opts.threads) })),
      {
        memoryBudgetBytes: config.local?.memory_budget_mb !== undefined ? config.local.memory_budget_mb * 1024 * 1024 : defaultMemoryBudgetBytes(),
        ttlMs: config.local?.ttl_s !== undefined ? config.local.ttl_s * 1000 : DEFAULT_TTL_MS,
      },
    );
    providers.set("local", new LocalProvider("local", pool));
  }
  for (const [name, p] of Object.entries(config.providers ?? {})) {
    const windows = Object.fromEntries(config.models.filter((m) => m.provider === name && m.context !== undefined).map((m) => [m.model, m.context!]));
    const counters: Record<string, Counter> = {};
    for (const m of config.models) {
      if (m.provider !== name || m.tokenizer === undefined || pool === undefined) continue;
      const local = m.tokenizer;
      const localPool = pool;
      counters[m.model] = async (text) => {
        const lease = await localPool.acquire(local);
        try {
          return lease.engine.tokenize(text, { addBos: false }).length;
        } finally {
          lease.release();
        }
      };
    }
    providers.set(name, upstreamProvider(name, p, keys.get(name), windows, counters));
  }
  const routes: Route[] = config.models.map((m) => ({
    name: m.name,
    provider: providers.get(m.provider)!,
    // a local model's pool knows it by its route name
    model: m.provider === "local" ? m.name : m.model,
    fallbacks: m.fallbacks ?? [],
  }));
  return new Gateway(routes, undefined, buildRouters(config, routeParts(config)));
}

/** Named checks, trained routers, and each model's context and per-token price (for cheapest-that-fits). */
function routeParts(config: LoadedConfig["config"]): RouteParts {
  const book = priceBook(config.models, priceTable());
  return {
    check: namedCheck,
    checkNames: CHECK_NAMES,
    scorer: loadScorer,
    candidate(name) {
      const m = config.models.find((x) => x.name === name)!;
      const price = book.entries.find((e) => e.entry.name === name)?.price;
      // a local model is priced by its compute time, which has no per-token figure before it runs
      return { name, contextWindow: m.context, price: price?.kind === "tokens" ? { input: price.rates.input, output: price.rates.output } : undefined };
    },
  };
}
