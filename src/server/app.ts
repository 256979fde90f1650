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
import { randomUUID } from "node:crypto";
import { Accountant, type AccountingOptions } from "../gateway/accountant.js";
import { allowsModel, modelNotAllowed, type ApiKey } from "../keys/api-key.js";
import type { KeyStore } from "../keys/store.js";
import { InferdError } from "../util/errors.js";
import { GROUP_BYS, type GroupBy } from "../ledger/store.js";
import { usageJson, usageReport } from "../ledger/usage.js";
import { apiOf, type Api } from "./api.js";
import { anthropicError, HttpError, openAiError, toApiError, type ApiError } from "./errors.js";
import { Metrics } from "./metrics.js";
import { chatCompletions, completions, embeddings } from "./openai.js";
import { chatCompletionRequest, completionRequest, countTokensRequest, describeIssue, embeddingRequest, messagesRequest } from "./schemas.js";
import { Lifecycle } from "./lifecycle.js";
import { openScope, type RequestScope } from "./request-scope.js";
import { givenKey, keyMatches } from "./auth.js";
import { mountDashboard } from "../dashboard/routes.js";

export interface AppOptions {
  /** The models served and what answers each. */
  gateway: Gateway;
  /** Require `Authorization: Bearer <key>` (or Anthropic's `x-api-key`). */
  apiKey?: string;
  /** Require virtual keys from this store (`inferd keys create`): each request is held to its key's models, budget and rate limits. */
  keys?: KeyStore;
  /** The books: prices, the ledger, the keys' limits (see Accountant). */
  accounting?: Omit<AccountingOptions, "onUsage">;
  /** Largest request body in bytes (default 4 MiB); beyond it a 413. */
  maxBodyBytes?: number;
  /** Allow cross-origin requests from this origin ("*" for any): CORS headers and preflights. */
  corsOrigin?: string;
  /** Serve /dashboard (default true). */
  dashboard?: boolean;
  /** The key /dashboard asks for (default: the server key, `apiKey`); required with virtual keys. */
  adminKey?: string;
  /** Shutdown as the handlers see it (the CLI drives it on SIGTERM); default: one that never drains. */
  lifecycle?: Lifecycle;
}

export function createApp(opts: AppOptions) {
  const lifecycle = opts.lifecycle ?? new Lifecycle();
  const gateway = opts.gateway;
  const metrics = new Metrics(gateway);
  const accountant = new Accountant(gateway, { ...opts.accounting, onUsage: (route, usage, finish) => metrics.record(route, usage, finish) });
  const api = apiOf(accountant);
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
  if (opts.dashboard !== false) {
    mountDashboard(app, { gateway, ledger: opts.accounting?.ledger, keys: opts.keys, limits: opts.accounting?.limits, book: opts.accounting?.book, adminKey: opts.adminKey ?? opts.apiKey });
  }
  app.get("/metrics", async (c) => c.text(await metrics.registry.metrics(), 200, { "Content-Type": metrics.registry.contentType }));

  const unauthorized = () => new InferdError("unauthorized", "invalid or missing API key");
  /** The virtual key a request carries (undefined without keys); throws 401 when keys are required and it has none. */
  const keyOf = (c: Context): ApiKey | undefined => {
    if (opts.keys !== undefined) {
      const key = opts.keys.verify(givenKey(c));
      if (key === undefined) throw unauthorized();
      return key;
    }
    if (opts.apiKey !== undefined && !keyMatches(opts.apiKey, givenKey(c))) throw unauthorized();
    return undefined;
  };
  // the model routes check keys themselves (their refusals are ledger rows); the others here
  app.use("/v1/*", async (c, next) => {
    if (c.req.method !== "POST") keyOf(c);
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    if (!lifecycle.draining) return next();
    c.header("Connection", "close");
    return fail(c, toApiError(new HttpError(503, "the server is shutting down", "server_error", null, "server_shutdown")));
  });
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const tooLarge = (c: Context) => fail(c, { status: 413, type: "invalid_request_error", code: "request_too_large", param: null, message: `request body larger than ${maxBody} bytes` });
  const streamedLimit = bodyLimit({ maxSize: maxBody, onError: tooLarge });
  app.use("/v1/*", async (c, next) => {
    // a declared length is checked as it stands (Node's parser holds the body to it); only a
    // chunked body needs hono's counting limit, which costs a web Request per request
    const declared = c.req.header("content-length");
    if (declared === undefined) return streamedLimit(c, next);
    if (Number(declared) > maxBody) return tooLarge(c);
    await next();
  });

  const modelObject = (name: string) => {
    const ctx = gateway.contextWindow(name);
    return { id: name, object: "model", created: 0, owned_by: gateway.ownerOf(name), ...(ctx !== undefined ? { max_model_len: ctx } : {}) };
  };
  app.get("/v1/models", (c) => c.json({ object: "list", data: gateway.names().map(modelObject) }));
  // ids may hold "/" and ":" (hf:owner/repo/file.gguf)
  app.get("/v1/models/:id{.+}", (c) => c.json(modelObject(c.req.param("id"))));

  // what was spent: a key sees only its own requests
  app.get("/v1/usage", async (c) => {
    const ledger = opts.accounting?.ledger;
    if (ledger === undefined) throw new HttpError(404, "this server keeps no ledger", "invalid_request_error", null, "no_ledger");
    const by = c.req.query("by") ?? "model";
    if (!(GROUP_BYS as readonly string[]).includes(by)) throw new HttpError(400, `invalid by: ${JSON.stringify(by)} (${GROUP_BYS.join(", ")})`, "invalid_request_error", "by");
    const since = c.req.query("since");
    const sinceMs = since === undefined ? undefined : Date.parse(since);
    if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new HttpError(400, `invalid since: ${JSON.stringify(since)} (an ISO date)`, "invalid_request_error", "since");
    const key = keyOf(c);
    // rows journaled in the last few ms are stored first
    await ledger.flush().catch(() => undefined);
    const names = key !== undefined ? new Map([[key.id, key.name]]) : new Map(opts.keys?.list({ includeRevoked: true }).map((k) => [k.id, k.name]) ?? []);
    const rows = await usageReport(ledger.store, by as GroupBy, { ...(sinceMs !== undefined ? { since: sinceMs } : {}), ...(key !== undefined ? { keyId: key.id } : {}) }, names);
    return c.json({ object: "list", data: rows.map(usageJson) });
  });

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
      const body = parsed.data as z.infer<S> & { model: string; stream?: boolean | null; user?: string; metadata?: Record<string, unknown> | null };
      const who = {
        stream: body.stream === true,
        user: body.user ?? stringOf(body.metadata?.user_id),
        tag: c.req.header("x-inferd-tag") ?? stringOf(body.metadata?.tag),
      };
      let key: ApiKey | undefined;
      try {
        key = keyOf(c);
        gateway.check(body.model); // an unknown model is a 404 before any work
        if (key !== undefined && !allowsModel(key, body.model)) throw modelNotAllowed(key, body.model);
      } catch (e) {
        const id = randomUUID();
        c.header("x-request-id", id);
        await accountant.refused({ id, arrival: Date.now(), ...who, key, wasCut: () => false }, body.model, e);
        throw e;
      }
      // the scope starts before any work, so a client that leaves while queued cancels its request
      const { scope, end } = openScope(lifecycle, c.req.raw.signal, { ...who, key });
      // the ledger's row of this request has this id
      c.header("x-request-id", scope.id);
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

function stringOf(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
