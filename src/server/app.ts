/**
 * The HTTP API (hono): OpenAI- and Anthropic-compatible routes over the gateway's models.
 * Protocol only: wire formats in and out; what answers is the gateway's business.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import type { Gateway } from "../gateway/gateway.js";
import { cors } from "hono/cors";
import { methodNotAllowed } from "hono/method-not-allowed";
import { countTokens, messages } from "./anthropic.js";
import { accountedApi, type Api } from "./api.js";
import { anthropicError, HttpError, openAiError, toApiError, type ApiError } from "./errors.js";
import { Metrics } from "./metrics.js";
import { chatCompletions, completions, embeddings } from "./openai.js";
import { chatCompletionRequest, completionRequest, countTokensRequest, describeIssue, embeddingRequest, messagesRequest } from "./schemas.js";
import { Lifecycle } from "./lifecycle.js";
import { openScope, type RequestScope } from "./request-scope.js";
import { givenKey, keyMatches } from "./auth.js";

export interface AppOptions {
  /** The models served and what answers each. */
  gateway: Gateway;
  /** Require `Authorization: Bearer <key>` (or Anthropic's `x-api-key`). */
  apiKey?: string;
  /** Largest request body in bytes (default 4 MiB); beyond it a 413. */
  maxBodyBytes?: number;
  /** Allow cross-origin requests from this origin ("*" for any): CORS headers and preflights. */
  corsOrigin?: string;
  /** Shutdown as the handlers see it (the CLI drives it on SIGTERM); default: one that never drains. */
  lifecycle?: Lifecycle;
}

export function createApp(opts: AppOptions) {
  const lifecycle = opts.lifecycle ?? new Lifecycle();
  const gateway = opts.gateway;
  const metrics = new Metrics(gateway);
  const api = accountedApi(gateway, (route, usage, finish) => metrics.record(route, usage, finish));
  const app = new Hono();
  const isAnthropic = (c: Context) => c.req.path.startsWith("/v1/messages");
  const fail = (c: Context, err: ApiError) => {
    if (err.retryAfterSeconds !== undefined) c.header("Retry-After", String(err.retryAfterSeconds));
    return c.json(isAnthropic(c) ? anthropicError(err) : openAiError(err), err.status as 400);
  };

  app.onError((e, c) => {
    const err = toApiError(e);
    // the client gets no internals; the operator gets all of them
    if (err.status >= 500 && err.code !== "server_shutdown") console.error(`[inferd] ${c.req.method} ${c.req.path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return fail(c, err);
  });
  app.notFound((c) => fail(c, toApiError(new HttpError(404, `no route ${c.req.method} ${c.req.path}`))));
  if (opts.corsOrigin !== undefined) {
    app.use("*", cors({ origin: opts.corsOrigin, allowHeaders: ["Authorization", "Content-Type", "x-api-key", "anthropic-version", "anthropic-beta"], maxAge: 600 }));
  }
  // a known path with the wrong method is a 405 naming the allowed ones, not a 404
  app.use(
    "*",
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        c.header("Allow", methods.join(", "));
        return fail(c, toApiError(new HttpError(405, `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(" or ")}`, "invalid_request_error", null, "method_not_allowed")));
      },
    }),
  );

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/metrics", async (c) => c.text(await metrics.registry.metrics(), 200, { "Content-Type": metrics.registry.contentType }));

  if (opts.apiKey !== undefined) {
    const key = opts.apiKey;
    app.use("/v1/*", async (c, next) => {
      if (!keyMatches(key, givenKey(c))) return fail(c, { status: 401, type: "authentication_error", code: "invalid_api_key", param: null, message: "invalid or missing API key" });
      await next();
    });
  }
  app.use("/v1/*", async (c, next) => {
    if (!lifecycle.draining) return next();
    c.header("Connection", "close");
    return fail(c, toApiError(new HttpError(503, "the server is shutting down", "server_error", null, "server_shutdown")));
  });
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: opts.maxBodyBytes ?? 4 * 1024 * 1024,
      onError: (c) => fail(c, { status: 413, type: "invalid_request_error", code: "request_too_large", param: null, message: `request body larger than ${opts.maxBodyBytes ?? 4 * 1024 * 1024} bytes` }),
    }),
  );

  const modelObject = (name: string) => {
    const ctx = gateway.contextWindow(name);
    return { id: name, object: "model", created: 0, owned_by: gateway.route(name).provider.name, ...(ctx !== undefined ? { max_model_len: ctx } : {}) };
  };
  app.get("/v1/models", (c) => c.json({ object: "list", data: gateway.models().map((r) => modelObject(r.name)) }));
  // ids may hold "/" and ":" (hf:owner/repo/file.gguf)
  app.get("/v1/models/:id{.+}", (c) => c.json(modelObject(c.req.param("id"))));

  const route = <S extends z.ZodType>(schema: S, handler: (c: Context, api: Api, body: z.infer<S>, scope: RequestScope) => Promise<Response>) =>
    async (c: Context) => {
      let raw: unknown;
      try {
        raw = await c.req.json();
      } catch {
        throw new HttpError(400, "the request body is not valid JSON");
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const { param, message } = describeIssue(parsed.error);
        throw new HttpError(400, message, "invalid_request_error", param);
      }
      const body = parsed.data as z.infer<S> & { model: string };
      gateway.route(body.model); // an unknown model is a 404 before any work
      // the scope starts before any work, so a client that leaves while queued cancels its request
      const { scope, end } = openScope(lifecycle, c.req.raw.signal);
      try {
        return await handler(c, api, body, scope);
      } finally {
        end();
      }
    };

  app.post("/v1/chat/completions", route(chatCompletionRequest, chatCompletions));
  app.post("/v1/completions", route(completionRequest, completions));
  app.post("/v1/embeddings", route(embeddingRequest, embeddings));
  app.post("/v1/messages", route(messagesRequest, messages));
  app.post("/v1/messages/count_tokens", route(countTokensRequest, countTokens));
  return app;
}
