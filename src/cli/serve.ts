import type { Server } from "node:http";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Engine } from "../engine/engine.js";
import { localGateway } from "../gateway/local-gateway.js";
import { createApp } from "../server/app.js";
import { Lifecycle } from "../server/lifecycle.js";
import { InferdError } from "../util/errors.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";

export const SERVE_HELP = `Usage: inferd serve [options]

Serves models over an OpenAI-compatible API (/v1/chat/completions, /v1/completions,
/v1/embeddings, /v1/models) and Anthropic's /v1/messages, plus /health and /metrics.

Options:
  -m, --model M          model to serve (repeatable; default: a small instruct model)
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
  const valued = new Set(["--model", "-m", "--host", "--port", "-p", "--threads", "--context", "-c", "--max-sequences", "--max-queue", "--batch-size", "--step-tokens", "--api-key", "--cors", "--max-body", "--shutdown-timeout", "--kv-tier-size", "--kv-tier-dir", "--spec", "--draft-model", "--spec-k"]);
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, valued),
      options: {
        model: { type: "string", short: "m", multiple: true },
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
  const port = numberFlag("port", v.port, { integer: true, min: 0, max: 65535 }) ?? 8080;
  const threads = numberFlag("threads", v.threads, { integer: true, min: 1 });
  const contextSize = numberFlag("context", v.context, { integer: true, min: 1 });
  const maxSequences = numberFlag("max-sequences", v["max-sequences"], { integer: true, min: 1 });
  const batchSize = numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 });
  const stepTargetTokens = numberFlag("step-tokens", v["step-tokens"], { integer: true, min: 1 });
  const maxWaiting = numberFlag("max-queue", v["max-queue"], { integer: true, min: 0 });
  const maxBodyBytes = numberFlag("max-body", v["max-body"], { integer: true, min: 1 });
  const shutdownSeconds = numberFlag("shutdown-timeout", v["shutdown-timeout"], { min: 0 }) ?? 10;
  const tierMb = numberFlag("kv-tier-size", v["kv-tier-size"], { min: 0 });
  const specK = numberFlag("spec-k", v["spec-k"], { integer: true, min: 1, max: 32 });
  const specMode = v.spec ?? (v["draft-model"] !== undefined ? "draft" : "off");
  if (!isSpecMode(specMode)) throw new InferdError("invalid_argument", `invalid --spec: ${JSON.stringify(specMode)} (ngram, draft or off)`, { param: "spec" });

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
  const lifecycle = new Lifecycle();
  const gateway = localGateway(engines);
  const app = createApp({ gateway, apiKey: v["api-key"], maxBodyBytes, lifecycle, ...(v.cors !== undefined ? { corsOrigin: v.cors } : {}) });
  const host = v.host ?? "127.0.0.1";
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      process.stderr.write(`[inferd] serving ${[...engines.keys()].join(", ")} on http://${host}:${info.port}\n`);
      resolve(s as Server);
    });
  });
  await shutdownSignal();
  process.stderr.write(`[inferd] shutting down: no new requests, letting running ones finish (at most ${shutdownSeconds} s)\n`);
  // a second signal means now: no waiting, no cleanup
  const now = () => process.exit(1);
  process.once("SIGTERM", now);
  process.once("SIGINT", now);
  lifecycle.drain();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // keep-alive connections that fall idle as their responses end would hold close() open
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => lifecycle.cut(), shutdownSeconds * 1000);
  // a client that stopped reading cannot hold the shutdown: 2 s after the cut, sockets close
  let hard: NodeJS.Timeout | undefined;
  await Promise.race([lifecycle.idle(), new Promise<void>((r) => (hard = setTimeout(r, shutdownSeconds * 1000 + 2000)))]);
  clearTimeout(deadline);
  clearTimeout(hard);
  server.closeIdleConnections();
  // responses have ended; a socket still flushing its last bytes gets a moment, then is closed
  const force = setTimeout(() => server.closeAllConnections(), 1000);
  await closed;
  clearTimeout(force);
  clearInterval(sweep);
  // every generation has ended: each engine waits for its step in flight, then frees its native objects
  await gateway.close();
  return 0;
}

/**
 * Resolves on the first SIGTERM or SIGINT, or when the parent process is gone. The last one is
 * for `npx inferd serve`: npm exits on SIGTERM without passing it on, which would leave this
 * server running, re-parented, for nobody. Only a process started by npm watches its parent.
 */
function shutdownSignal(): Promise<void> {
  return new Promise((resolve) => {
    let watch: NodeJS.Timeout | undefined;
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      clearInterval(watch);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    if (process.env.npm_execpath !== undefined) {
      const parent = process.ppid;
      watch = setInterval(() => process.ppid !== parent && stop(), 200);
      watch.unref();
    }
  });
}

function isSpecMode(s: string): s is "off" | "ngram" | "draft" {
  return s === "off" || s === "ngram" || s === "draft";
}
