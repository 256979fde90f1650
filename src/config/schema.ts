/**
 * `inferd serve --config inferd.yaml`: the schema (zod), in the file's own snake_case. Unknown
 * keys are errors (a typo must not be silently ignored); an error names the field's path.
 */
import { z } from "zod";
import { priceConfigSchema } from "../pricing/price-config.js";

const positiveInt = z.number().int().min(1);
const ms = z.number().int().min(1);

const upstream = z.strictObject({
  type: z.enum(["openai", "anthropic"]),
  /** Default: OpenAI's or Anthropic's public API. */
  base_url: z.url().optional(),
  /** The environment variable holding the upstream's key (never the key itself in the file). */
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  timeouts: z.strictObject({ connect_ms: ms.optional(), first_byte_ms: ms.optional(), idle_ms: ms.optional(), total_ms: ms.optional() }).optional(),
  retries: z.strictObject({ max: z.number().int().min(0).max(10).optional(), base_ms: ms.optional(), cap_ms: ms.optional() }).optional(),
  circuit: z.strictObject({ failures: positiveInt.optional(), cooldown_ms: ms.optional() }).optional(),
});
export type UpstreamConfig = z.infer<typeof upstream>;

const model = z.strictObject({
  /** What clients put in "model". */
  name: z.string().min(1),
  /** "local", or a name under `providers`. */
  provider: z.string().min(1),
  /** A local .gguf path, hf:... or synthetic:...; for an upstream, its model id. */
  model: z.string().min(1),
  /** Other models to try, in order, when this one fails before answering. */
  fallbacks: z.array(z.string().min(1)).optional(),
  /** Local: the context window per sequence; upstream: the model's context window, for /v1/models. */
  context: positiveInt.optional(),
  /** Local engine settings (as the serve flags of the same names). */
  max_sequences: positiveInt.optional(),
  batch_size: positiveInt.optional(),
  threads: positiveInt.optional(),
  max_queue: z.number().int().min(0).optional(),
  prefix_cache: z.boolean().optional(),
  /** An upstream model: the local model whose tokenizer counts its tokens when the upstream reports no usage. */
  tokenizer: z.string().min(1).optional(),
  /** USD per 1M tokens by kind (hosted), or `machine_usd_per_hour` (local); overrides the price table. */
  price: priceConfigSchema.optional(),
});
export type ModelConfig = z.infer<typeof model>;

const ruleCondition = z.strictObject({
  min_prompt_tokens: z.number().int().min(0).optional(),
  max_prompt_tokens: z.number().int().min(0).optional(),
  tools: z.boolean().optional(),
  json_schema: z.boolean().optional(),
  tag: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  key: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
});

const probability = z.number().min(0).max(1);

/**
 * A routed name: clients ask for it like a model; its policy picks one of its candidates (model
 * names above, cheapest first) per request. See src/routing/.
 */
const route = z.strictObject({
  name: z.string().min(1),
  policy: z.enum(["rules", "cheapest", "learned", "cascade"]),
  candidates: z.array(z.string().min(1)).min(1),
  /** rules: the first whose conditions all hold picks `model`; none: `default` (the last candidate when absent). */
  rules: z.array(z.strictObject({ when: ruleCondition, model: z.string().min(1) })).optional(),
  default: z.string().min(1).optional(),
  /** learned: a router trained by `inferd route train`; at or above `threshold` the large (last) candidate answers. */
  learned: z.strictObject({ file: z.string().min(1), threshold: probability.optional() }).optional(),
  /** cascade: the small (first) candidate's answer is accepted when its checks pass and its confidence reaches `threshold`. */
  cascade: z
    .strictObject({
      /** The quantile of token probabilities taken as the confidence (0: the least likely token). */
      quantile: probability.optional(),
      threshold: probability.optional(),
      /** A named answer check (`inferd route eval` uses the same ones). */
      check: z.string().min(1).optional(),
      /** The answer must match this regular expression (JavaScript syntax). */
      regex: z.string().min(1).optional(),
    })
    .optional(),
});
export type RouteConfig = z.infer<typeof route>;

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).optional(),
      /** The environment variable holding the key clients must send. */
      api_key_env: z.string().optional(),
      cors: z.string().optional(),
      max_body: positiveInt.optional(),
      shutdown_timeout_s: z.number().min(0).optional(),
    })
    .optional(),
  local: z
    .strictObject({
      /** Memory the local models may take together (weights and KV), in MiB. */
      memory_budget_mb: positiveInt.optional(),
      /** An idle local model is unloaded after this many seconds. */
      ttl_s: z.number().min(0).optional(),
    })
    .optional(),
  /** `keys`: every request needs a virtual key (`inferd keys create`), held to its budget and rate limits. */
  auth: z.enum(["none", "keys"]).optional(),
  /** Where the request ledger lives: a SQLite path or a postgres:// URL (default $INFERD_HOME/ledger.sqlite); false: no ledger. */
  ledger: z.union([z.string().min(1), z.literal(false)]).optional(),
  /** Redis, for keys' limits and budgets shared by several replicas (default: in process). */
  redis: z.strictObject({ url: z.string().regex(/^rediss?:\/\//) }).optional(),
  providers: z.record(z.string().regex(/^[a-z0-9_-]+$/i), upstream).optional(),
  models: z.array(model).min(1),
  routes: z.array(route).optional(),
});
export type Config = z.infer<typeof configSchema>;
