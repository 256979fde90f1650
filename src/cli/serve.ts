import { basename } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/engine.js";
import { localGateway } from "../gateway/local-gateway.js";
import { buildGateway } from "../config/build.js";
import { loadConfig } from "../config/load.js";
import type { Gateway } from "../gateway/gateway.js";
import { InferdError } from "../util/errors.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";
import { runServer, type ServerSettings } from "./run-server.js";

export const SERVE_HELP = `Usage: inferd serve [options]

Serves models over an OpenAI-compatible API (/v1/chat/completions, /v1/completions,
/v1/embeddings, /v1/models) and Anthropic's /v1/messages, plus /health and /metrics.

Options:
  -m, --model M          model to serve (repeatable; default: a small instruct model)
      --config FILE      models, providers (OpenAI-compatible, Anthropic) and fallbacks from a YAML file
                         (see README, Configuration); the flags below override its server settings
      --host H           address to listen on (default 127.0.0.1)
  -p, --port P           port (default 8080)
      --threads N        llama.cpp threads (default: measured per batch size)
  -c, --context N        context window per sequence (default: the model's, at most 4096)
      --max-sequences N  requests decoding at once per model (default 8)
      --batch-size N     tokens per step across all requests: decode tokens, then prompt chunks (default 512)
      --step-tokens N    size past which a step takes no more prompt chunks, though a prompt that fits
                         --batch-size is never split (default: --batch-size)
      --max-queue N      requests that may wait for a free sequence; beyond them a 429 (default 256)
      --api-key K        require this key (Authorization: Bearer K, or x-api-key)
      --keys             require virtual keys (inferd keys create), each held to its budget and rate limits
      --admin-key K      the key /dashboard asks for (default $INFERD_ADMIN_KEY, else --api-key's;
                         with --keys the dashboard needs one)
      --no-dashboard     serve no /dashboard
      --redis URL        keep the keys' budgets and rate limits in Redis, shared by several replicas
      --ledger PATH|URL  the request ledger: a SQLite file or postgres://... (default $INFERD_HOME/ledger.sqlite)
      --no-ledger        keep no ledger
      --cors ORIGIN      allow browser requests from ORIGIN ("*" for any): CORS headers and preflights
      --max-body N       largest request body in bytes (default 4194304)
      --shutdown-timeout S   seconds to let streams finish on SIGTERM (default 10)
      --no-prefix-cache  compute every prompt in full (for comparison)
      --spec MODE        speculative decoding: ngram (prompt lookup), draft (needs --draft-model) or off (default)
      --draft-model M    draft model for --spec draft (same vocabulary as the served model)
      --spec-k N         most tokens drafted per step (default 16, at most 32; adapts per request below it)
      --kv-tier-size MB  budget of the saved-KV tier behind the prefix cache (default 2048; 0: off)
      --kv-tier-dir DIR  folder of that tier (default $INFERD_HOME/kv-cache; /dev/shm/... for RAM)
  -h, --help             show this help
`;

/** The public id of a served model: what clients put in "model". */
export function modelId(spec: string | undefined): string {
  if (spec === undefined) return "default";
  if (spec.startsWith("hf:") || spec.startsWith("synthetic:")) return spec;
  return basename(spec).replace(/\.gguf$/i, "");
}

export async function serveCommand(argv: string[]): Promise<number> {
  let parsed;
  const valued = new Set(["--model", "-m", "--config", "--ledger", "--redis", "--host", "--port", "-p", "--threads", "--context", "-c", "--max-sequences", "--max-queue", "--batch-size", "--step-tokens", "--api-key", "--admin-key", "--cors", "--max-body", "--shutdown-timeout", "--kv-tier-size", "--kv-tier-dir", "--spec", "--draft-model", "--spec-k"]);
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, valued),
      options: {
        model: { type: "string", short: "m", multiple: true },
        config: { type: "string" },
        ledger: { type: "string" },
        "no-ledger": { type: "boolean" },
        "admin-key": { type: "string" },
        "no-dashboard": { type: "boolean" },
        keys: { type: "boolean" },
        redis: { type: "string" },
        host: { type: "string" },
        port: { type: "string", short: "p" },
        threads: { type: "string" },
        context: { type: "string", short: "c" },
        "max-sequences": { type: "string" },
        "max-queue": { type: "string" },
        "batch-size": { type: "string" },
        "step-tokens": { type: "string" },
        "api-key": { type: "string" },
        cors: { type: "string" },
        "max-body": { type: "string" },
        "shutdown-timeout": { type: "string" },
        "no-prefix-cache": { type: "boolean" },
        "kv-tier-size": { type: "string" },
        "kv-tier-dir": { type: "string" },
        spec: { type: "string" },
        "draft-model": { type: "string" },
        "spec-k": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw parseError(e);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const port = numberFlag("port", v.port, { integer: true, min: 0, max: 65535 });
  const threads = numberFlag("threads", v.threads, { integer: true, min: 1 });
  const contextSize = numberFlag("context", v.context, { integer: true, min: 1 });
  const maxSequences = numberFlag("max-sequences", v["max-sequences"], { integer: true, min: 1 });
  const batchSize = numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 });
  const stepTargetTokens = numberFlag("step-tokens", v["step-tokens"], { integer: true, min: 1 });
  const maxWaiting = numberFlag("max-queue", v["max-queue"], { integer: true, min: 0 });
  const maxBodyBytes = numberFlag("max-body", v["max-body"], { integer: true, min: 1 });
  const shutdownSeconds = numberFlag("shutdown-timeout", v["shutdown-timeout"], { min: 0 });
  const tierMb = numberFlag("kv-tier-size", v["kv-tier-size"], { min: 0 });
  const specK = numberFlag("spec-k", v["spec-k"], { integer: true, min: 1, max: 32 });
  const specMode = v.spec ?? (v["draft-model"] !== undefined ? "draft" : "off");
  if (!isSpecMode(specMode)) throw new InferdError("invalid_argument", `invalid --spec: ${JSON.stringify(specMode)} (ngram, draft or off)`, { param: "spec" });

  const settings: ServerSettings = {
    host: v.host ?? "127.0.0.1",
    port: port ?? 8080,
    apiKey: v["api-key"],
    adminKey: v["admin-key"] ?? (process.env.INFERD_ADMIN_KEY?.trim() || undefined),
    dashboard: v["no-dashboard"] !== true,
    ...(v.cors !== undefined ? { cors: v.cors } : {}),
    ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
    shutdownSeconds: shutdownSeconds ?? 10,
    priced: [],
    ledger: v["no-ledger"] ? false : v.ledger,
    keys: v.keys === true,
    redisUrl: v.redis,
  };
  let gateway: Gateway;
  if (v.config !== undefined) {
    if (v.model !== undefined) throw new InferdError("invalid_argument", "--config and --model do not go together: name the models in the config", { param: "config" });
    const loaded = await loadConfig(v.config);
    const server = loaded.config.server ?? {};
    // the command line wins over the file
    settings.host = v.host ?? server.host ?? settings.host;
    settings.port = port ?? server.port ?? settings.port;
    settings.apiKey ??= server.api_key_env !== undefined ? process.env[server.api_key_env] : undefined;
    if (settings.cors === undefined && server.cors !== undefined) settings.cors = server.cors;
    settings.maxBodyBytes ??= server.max_body;
    settings.shutdownSeconds = shutdownSeconds ?? server.shutdown_timeout_s ?? settings.shutdownSeconds;
    settings.priced = loaded.config.models;
    if (!v["no-ledger"] && v.ledger === undefined) settings.ledger = loaded.config.ledger;
    settings.keys ||= loaded.config.auth === "keys";
    settings.redisUrl ??= loaded.config.redis?.url;
    gateway = buildGateway(loaded, { threads });
  } else {
    const engines = new Map<string, Engine>();
    for (const spec of v.model ?? [undefined]) {
      const engine = await Engine.load({
        model: spec,
        threads,
        contextSize,
        maxSequences,
        maxWaiting,
        batchSize,
        stepTargetTokens,
        progress: true,
        prefixCache: !v["no-prefix-cache"],
        ...(tierMb !== undefined ? { kvTierBytes: tierMb * 1024 * 1024 } : {}),
        ...(v["kv-tier-dir"] !== undefined ? { kvTierDir: v["kv-tier-dir"] } : {}),
        speculative: specMode,
        ...(v["draft-model"] !== undefined ? { draftModel: v["draft-model"] } : {}),
        ...(specK !== undefined ? { specK } : {}),
      });
      engines.set(modelId(spec), engine);
    }
    gateway = localGateway(engines);
    settings.priced = [...engines.keys()].map((name) => ({ name, provider: "local", model: name }));
  }
  return runServer(gateway, settings);
}

function isSpecMode(s: string): s is "off" | "ngram" | "draft" {
  return s === "off" || s === "ngram" || s === "draft";
}
