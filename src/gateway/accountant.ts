/**
 * The gateway's books: in front of every request, its key's limits (budget reserved at the
 * worst case, rate limits); behind it, its price and one ledger row, whatever happened. The row
 * is durable before the response's last byte: it is written when the provider's usage event
 * passes (or its error), and the protocol writers send their last bytes after that.
 */
import type { ApiKey } from "../keys/api-key.js";
import type { Admission, Limits } from "../keys/limits.js";
import type { Ledger } from "../ledger/ledger.js";
import { usageTokens, type LedgerRow, type Outcome } from "../ledger/row.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { EmbeddingRequest, EmbeddingResult, FinishReason, ProviderEvent, ProviderRequest, Usage } from "../providers/provider.js";
import { emptyUsage, estimateTokens } from "../providers/usage.js";
import { errorStatus } from "../util/error-status.js";
import { describeDecision, type RouteDecision } from "../routing/policy.js";
import type { Gateway, Opened, Route } from "./gateway.js";

/** What the gateway knows of a request besides its body. */
export interface RequestInfo {
  id: string;
  /** Arrival, ms since the epoch. */
  arrival: number;
  key?: ApiKey | undefined;
  user?: string | undefined;
  tag?: string | undefined;
  /** The client reads a stream: its status is 200 once the first byte went out. */
  stream: boolean;
  /** Whether the server's shutdown (not the client) cut it. */
  wasCut(): boolean;
}

/** A request's price, as responses report it. */
export interface Priced {
  usd: number | null;
  savedUsd: number | null;
}

export interface AccountingOptions {
  book?: PriceBook | undefined;
  ledger?: Ledger | undefined;
  limits?: Limits | undefined;
  /** Called once per request with its usage (metrics). */
  onUsage?: (route: string, usage: Usage, finish: FinishReason) => void;
  log?: (message: string) => void;
}

/** A response begun, with its books kept. */
export interface Accounted extends Opened {
  /** A soft budget's warning, for a response header. */
  warning: string | undefined;
  /** The request's price once its usage has passed. */
  cost(): Priced | undefined;
  /** Makes sure the request's row is written: reads what is left (an aborted request ends soon) and records it. */
  end(): Promise<void>;
}

/**
 * The row's `route`: a routed name's decision (with a fallback that took over from its pick),
 * or a plain model's fallback; null when the model asked for answered.
 */
function routeText(asked: string, route: Route | undefined, decision: RouteDecision | undefined): string | null {
  if (decision !== undefined) return describeDecision(decision) + (route !== undefined && route.name !== decision.model ? `; fallback=${route.name}` : "");
  return route !== undefined && route.name !== asked ? `fallback:${route.name}` : null;
}

/** Tokens a request may use at most, for its reservation: its prompt by characters, plus its max_tokens. */
function worstCase(req: Omit<ProviderRequest, "model">, contextWindow: number | undefined): { prompt: number; output: number } {
  const text = req.input.kind === "chat" ? req.input.messages.map((m) => m.content).join("\n") : req.input.prompt;
  const prompt = typeof text === "string" ? estimateTokens(text) : text.length;
  return { prompt, output: (req.maxTokens ?? contextWindow ?? 4096) * req.n };
}

export class Accountant {
  constructor(
    readonly gateway: Gateway,
    private readonly o: AccountingOptions = {},
  ) {}

  /** The price of `usage`; undefined when pricing is off (no price book). */
  private priced(usage: Usage): Priced | undefined {
    if (this.o.book === undefined) return undefined;
    const c = this.o.book.cost(usage);
    return { usd: c.usd, savedUsd: c.savedUsd };
  }

  /**
   * Admits a request reserved at its worst case: on a model, its own; on a route, its dearest
   * candidate's, or for a cascade every candidate's together (it may pay the small and the
   * large model both).
   */
  private async admitWorst(info: RequestInfo, model: string, req: Omit<ProviderRequest, "model">): Promise<Admission | undefined> {
    const routes = this.gateway.candidates(model);
    if (info.key === undefined || this.o.limits === undefined) return undefined;
    let tokens = 0;
    let usd: number | null = 0;
    const cascade = this.gateway.policyOf(model) === "cascade";
    for (const route of routes) {
      const w = worstCase(req, route.provider.contextWindow?.(route.model));
      const t = w.prompt + w.output;
      const estimate = { ...emptyUsage(route.provider.name, route.model), inputTokens: w.prompt, outputTokens: w.output };
      const c = this.priced(estimate)?.usd ?? 0;
      tokens = cascade ? tokens + t : Math.max(tokens, t);
      usd = cascade ? usd + c : Math.max(usd, c);
    }
    return this.o.limits.admit(info.key, { tokens, costUsd: usd });
  }

  /** Admits a request against its key's limits (throws their 429s), reserved at its worst case on `route`. */
  private async admit(info: RequestInfo, route: Route, w: { prompt: number; output: number }): Promise<Admission | undefined> {
    if (info.key === undefined || this.o.limits === undefined) return undefined;
    const estimate = { ...emptyUsage(route.provider.name, route.model), inputTokens: w.prompt, outputTokens: w.output };
    return this.o.limits.admit(info.key, { tokens: w.prompt + w.output, costUsd: this.priced(estimate)?.usd ?? 0 });
  }

  async open(info: RequestInfo, model: string, req: Omit<ProviderRequest, "model">): Promise<Accounted> {
    let admission: Admission | undefined;
    let opened: Opened;
    try {
      admission = await this.admitWorst(info, model, req);
      opened = await this.gateway.open(model, req, { keyName: info.key?.name, tag: info.tag });
    } catch (e) {
      await this.settle(admission, undefined);
      await this.record(info, model, { error: e, committed: false });
      throw e;
    }
    let usage: Usage | undefined;
    let cost: Priced | undefined;
    let finish: FinishReason | undefined;
    let ended: Promise<void> | undefined;
    let done = false;
    const close = (error?: unknown): Promise<void> =>
      (ended ??= (async () => {
        done = true;
        await this.settle(admission, usage === undefined ? undefined : { tokens: usage.inputTokens + usage.outputTokens, costUsd: cost?.usd ?? null });
        await this.record(info, model, { route: opened.route, decision: opened.decision, usage, cost, finish, error, committed: true });
      })());
    const see = async (e: ProviderEvent) => {
      if (e.type === "finish" && e.choice === 0) finish = e.reason;
      if (e.type === "usage") {
        usage = e.usage;
        cost = this.priced(e.usage);
        this.o.onUsage?.(opened.route.name, e.usage, finish ?? "stop");
        await close();
      }
    };
    await see(opened.first);
    const rest = opened.rest;
    return {
      ...opened,
      warning: admission?.warning,
      cost: () => cost,
      rest: {
        async next() {
          let r: IteratorResult<ProviderEvent>;
          try {
            r = await rest.next();
          } catch (e) {
            await close(e);
            throw e;
          }
          if (r.done) await close();
          else await see(r.value);
          return r;
        },
      },
      end: async () => {
        if (done) return ended;
        // the writer stopped reading (its client left, or it failed): what remains is drained, and counted
        try {
          for (let r = await rest.next(); !r.done; r = await rest.next()) await see(r.value);
          await close();
        } catch (e) {
          await close(e);
        }
      },
    };
  }

  /** Embeddings, with their row. */
  async embed(info: RequestInfo, model: string, req: Omit<EmbeddingRequest, "model">): Promise<{ route: Route; result: EmbeddingResult; cost: Priced | undefined }> {
    let admission: Admission | undefined;
    try {
      const route = this.gateway.candidates(model)[0]!;
      const prompt = req.inputs.reduce((s, i) => s + (typeof i === "string" ? estimateTokens(i) : i.length), 0);
      admission = await this.admit(info, route, { prompt, output: 0 });
      const out = await this.gateway.embed(model, req);
      const cost = this.priced(out.result.usage);
      await this.settle(admission, { tokens: out.result.usage.inputTokens, costUsd: cost?.usd ?? null });
      await this.record(info, model, { route: out.route, usage: out.result.usage, cost, finish: "stop", committed: true });
      return { ...out, cost };
    } catch (e) {
      await this.settle(admission, undefined);
      await this.record(info, model, { error: e, committed: false });
      throw e;
    }
  }

  /** A row for a request refused before it reached the gateway (no valid key, say). */
  refused(info: RequestInfo, model: string, error: unknown): Promise<void> {
    return this.record(info, model, { error, committed: false });
  }

  private async settle(a: Admission | undefined, actual: { tokens: number; costUsd: number | null } | undefined): Promise<void> {
    if (a === undefined || this.o.limits === undefined) return;
    try {
      // a request that never ran frees its whole reservation
      await this.o.limits.settle(a, actual ?? { tokens: 0, costUsd: 0 });
    } catch (e) {
      // the reservation lapses on its own; the response is not failed for it
      this.log(`settling key ${a.keyName}'s request failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async record(
    info: RequestInfo,
    model: string,
    r: { route?: Route; decision?: RouteDecision | undefined; usage?: Usage | undefined; cost?: Priced | undefined; finish?: FinishReason | undefined; error?: unknown; committed: boolean },
  ): Promise<void> {
    const ledger = this.o.ledger;
    if (ledger === undefined) return;
    const failed = r.error !== undefined ? errorStatus(r.error) : undefined;
    // once a stream's first byte is out its status is 200, whatever came after
    const status = failed !== undefined && !(r.committed && info.stream) ? failed.status : r.finish === "abort" && !info.stream ? (info.wasCut() ? 503 : 499) : 200;
    const outcome: Outcome =
      r.finish === "abort" || failed?.status === 499 ? "cancelled"
      : failed === undefined ? "ok"
      : !r.committed && failed.status < 500 ? "refused"
      : "error";
    const u = r.usage;
    const row: LedgerRow = {
      ts: info.arrival,
      requestId: info.id,
      keyId: info.key?.id ?? null,
      user: info.user ?? null,
      tag: info.tag ?? null,
      modelRequested: model,
      provider: u?.provider ?? r.route?.provider.name ?? null,
      model: u?.model ?? r.route?.model ?? null,
      ...(u !== undefined ? usageTokens(u) : { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0 }),
      costUsd: r.cost?.usd ?? (u === undefined && this.o.book !== undefined ? 0 : null),
      savedUsd: r.cost?.savedUsd ?? null,
      queueMs: u?.timing.queuedMs ?? 0,
      ttftMs: u?.timing.firstTokenMs ?? null,
      totalMs: Math.max(0, Date.now() - info.arrival),
      cacheHit: (u?.cachedInputTokens ?? 0) > 0,
      estimated: u?.estimated ?? false,
      finishReason: r.finish ?? null,
      status,
      errorCode: failed?.code ?? null,
      route: routeText(model, r.route, r.decision),
      outcome,
    };
    try {
      await ledger.append(row);
    } catch (e) {
      // the ledger keeps the row queued and retries it; the response is not failed for it
      this.log(`ledger: request ${info.id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private log(m: string): void {
    (this.o.log ?? ((s: string) => process.stderr.write(`[inferd] ${s}\n`)))(m);
  }
}
