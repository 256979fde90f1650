/**
 * `/dashboard`: a page (static files in the package's `dashboard/` folder, its chart library,
 * uPlot, served from the package's own dependencies: no CDN, it works offline) and its JSON API,
 * `GET /dashboard/api/overview?window=3600&bucket=60` (seconds). With virtual keys on, both are
 * behind the admin key (`Authorization: Bearer K`, or HTTP Basic with K as the password, which a
 * browser asks for by itself); with a server key (`--api-key`), behind that one.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Context, Hono } from "hono";
import type { Gateway } from "../gateway/gateway.js";
import type { Limits } from "../keys/limits.js";
import type { KeyStore } from "../keys/store.js";
import type { Ledger } from "../ledger/ledger.js";
import type { PriceBook } from "../pricing/price-book.js";
import { emptyUsage } from "../providers/usage.js";
import { HttpError } from "../server/errors.js";
import { keyMatches } from "../server/auth.js";
import { packageRoot } from "../util/paths.js";
import { overview } from "./overview.js";

export interface DashboardOptions {
  gateway: Gateway;
  ledger: Ledger | undefined;
  keys?: KeyStore | undefined;
  limits?: Limits | undefined;
  book?: PriceBook | undefined;
  /** The key the dashboard asks for; undefined: open (only allowed without virtual keys). */
  adminKey?: string | undefined;
}

const require = createRequire(import.meta.url);
const UPLOT = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));

/** Files the page may load, by the name it uses, and where they are. */
const ASSETS: Record<string, { path: () => string; type: string }> = {
  "app.js": { path: () => join(packageRoot(), "dashboard", "app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { path: () => join(packageRoot(), "dashboard", "style.css"), type: "text/css; charset=utf-8" },
  "uPlot.iife.min.js": { path: () => join(UPLOT, "uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { path: () => join(UPLOT, "uPlot.min.css"), type: "text/css; charset=utf-8" },
};

/** The key a request offers: Bearer, x-api-key, or Basic's password. */
function offered(c: Context): string | undefined {
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  if (auth?.startsWith("Basic ")) {
    const decoded = Buffer.from(auth.slice(6).trim(), "base64").toString("utf8");
    return decoded.slice(decoded.indexOf(":") + 1);
  }
  return c.req.header("x-api-key");
}

const clampInt = (v: string | undefined, def: number, min: number, max: number, name: string): number => {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name} must be an integer from ${min} to ${max} (seconds), not ${JSON.stringify(v)}`, "invalid_request_error", name);
  return n;
};

export function mountDashboard(app: Hono, o: DashboardOptions): void {
  const guard = (c: Context): Response | undefined => {
    if (o.adminKey === undefined) {
      if (o.keys === undefined) return undefined;
      return c.json({ error: { message: "the dashboard needs an admin key when virtual keys are on: start with --admin-key (or INFERD_ADMIN_KEY)", type: "permission_error", code: "no_admin_key", param: null } }, 403);
    }
    if (keyMatches(o.adminKey, offered(c))) return undefined;
    c.header("WWW-Authenticate", 'Basic realm="inferd dashboard", charset="UTF-8"');
    return c.json({ error: { message: "the dashboard needs the admin key", type: "invalid_request_error", code: "invalid_api_key", param: null } }, 401);
  };
  const page = async (c: Context) => guard(c) ?? c.html(await readFile(join(packageRoot(), "dashboard", "index.html"), "utf8"));
  app.get("/dashboard", page);
  app.get("/dashboard/", page);
  app.get("/dashboard/assets/:file", async (c) => {
    const denied = guard(c);
    if (denied) return denied;
    const a = ASSETS[c.req.param("file")];
    if (a === undefined) throw new HttpError(404, `no dashboard asset ${c.req.param("file")}`);
    return c.body(await readFile(a.path()), 200, { "Content-Type": a.type, "Cache-Control": "no-cache" });
  });
  app.get("/dashboard/api/overview", async (c) => {
    const denied = guard(c);
    if (denied) return denied;
    if (o.ledger === undefined) throw new HttpError(404, "this server keeps no ledger: the dashboard has nothing to show", "invalid_request_error", null, "no_ledger");
    const windowS = clampInt(c.req.query("window"), 3600, 60, 90 * 86400, "window");
    const bucketS = clampInt(c.req.query("bucket"), Math.max(10, Math.round(windowS / 60)), 1, windowS, "bucket");
    const now = Date.now();
    // rows journaled in the last few ms are stored first
    await o.ledger.flush().catch(() => undefined);
    const keys = o.keys?.list({ includeRevoked: true }) ?? [];
    const names = new Map(keys.map((k) => [k.id, k.name]));
    const body = await overview({
      store: o.ledger.store,
      since: now - windowS * 1000,
      bucketMs: bucketS * 1000,
      now,
      keyName: (id) => names.get(id),
      live: o.gateway.loads().map(({ name, load }) => ({ name, running: load.running, waiting: load.waiting, kvUsage: load.kvUsage })),
      budgets: async () => {
        if (o.limits === undefined) return [];
        const out = [];
        for (const k of keys.filter((x) => x.revokedAt === null)) {
          const s = await o.limits.state(k, now);
          out.push({ key: k.name, budgetUsd: k.budgetUsd, spentUsd: s.spentUsd, period: k.period, soft: k.soft, periodEnds: s.periodEnds });
        }
        return out;
      },
      priceOn: (model, row) => {
        if (o.book === undefined) return null;
        let route;
        try {
          route = o.gateway.route(model);
        } catch {
          return null;
        }
        const usage = { ...emptyUsage(route.provider.name, route.model), inputTokens: row.inputTokens, cachedInputTokens: row.cachedInputTokens, outputTokens: row.outputTokens };
        return o.book.cost(usage).usd;
      },
    });
    return c.json(body);
  });
}
