/**
 * The gateway's books over real HTTP: every request one ledger row (successes, streams, cancels,
 * errors, refusals) on SQLite and on a PostgreSQL server the test starts; responses that say
 * what they cost; virtual keys held to their budget under concurrency, in process and on a
 * redis-server the test starts. The local model is stories260K; the priced hosted model is a
 * scripted upstream on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serve } from "@hono/node-server";
import { Engine } from "../src/index.js";
import { Gateway } from "../src/gateway/gateway.js";
import { KeyStore } from "../src/keys/store.js";
import type { Limits } from "../src/keys/limits.js";
import { MemoryLimits } from "../src/keys/memory-limits.js";
import { RedisLimits } from "../src/keys/redis-limits.js";
import { Ledger } from "../src/ledger/ledger.js";
import type { LedgerStore } from "../src/ledger/store.js";
import { SqliteStore } from "../src/ledger/sqlite-store.js";
import { PostgresStore } from "../src/ledger/postgres-store.js";
import { priceBook } from "../src/pricing/price-book.js";
import { priceTable } from "../src/pricing/table.js";
import { FaultUpstream, fault, type FaultStep } from "../src/providers/http/fault-upstream.js";
import { Upstream } from "../src/providers/http/upstream.js";
import { FixedEngines } from "../src/providers/local/engines.js";
import { LocalProvider } from "../src/providers/local/local-provider.js";
import { OpenAiProvider } from "../src/providers/openai/openai-provider.js";
import { createApp } from "../src/server/app.js";
import { needsPostgres, startPostgres, type PostgresServer } from "./postgres.js";
import { needsRedis, startRedis, type TestRedis } from "./redis.js";
import { needsShared, STORIES } from "./shared.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A chat completion of two tokens from the scripted upstream, after `delayMs`. */
function twoTokens(delayMs = 0): FaultStep {
  return { kind: "json", delayMs, body: { choices: [{ index: 0, message: { role: "assistant", content: "Hi there" }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 2 } } };
}

/** "paid" costs $1 per output token (and nothing per input token): easy sums. */
const PAID_PRICE = { input: 0, output: 1_000_000 };

async function startBooks(opts: { store: LedgerStore; limits?: Limits; keys?: KeyStore; up: FaultUpstream; stories: Engine }) {
  const local = new LocalProvider("local", new FixedEngines(new Map([["small", opts.stories]])));
  const lab = new OpenAiProvider({ name: "lab", client: new Upstream({ name: "lab", baseUrl: `${opts.up.url}/v1`, retries: { max: 2, baseMs: 5, capMs: 10 } }) });
  const gateway = new Gateway([
    { name: "small", provider: local, model: "small", fallbacks: [] },
    { name: "paid", provider: lab, model: "m", fallbacks: [] },
  ]);
  const book = priceBook([{ name: "small", provider: "local", model: "small" }, { name: "paid", provider: "lab", model: "m", price: PAID_PRICE }], priceTable());
  const ledger = new Ledger(opts.store, { batchMs: 2 });
  const app = createApp({ gateway, accounting: { book, ledger, limits: opts.limits }, ...(opts.keys ? { keys: opts.keys } : {}) });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (path: string, body: object, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
  const close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await ledger.close();
  };
  return { base, post, ledger, close };
}

/** Waits until the ledger holds `n` rows, then returns them by request id. */
async function rowsOf(store: LedgerStore, n: number) {
  for (let i = 0; i < 300; i++) {
    const rows = await store.recent(10_000, {});
    if (rows.length >= n) return new Map(rows.map((r) => [r.requestId, r]));
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`the ledger never reached ${n} rows`);
}

describe("the books: one ledger row per request", needsShared, () => {
  let stories: Engine;
  let up: FaultUpstream;
  let pgServer: PostgresServer | undefined;
  before(async () => {
    stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, maxWaiting: 0, kvTierBytes: 0 });
    up = await FaultUpstream.start();
  });
  after(async () => {
    await stories?.dispose();
    await up?.close();
    await pgServer?.stop();
  });

  /** A mixed load; returns each request's id with the outcome it must have in the ledger. */
  async function mixedLoad(s: Awaited<ReturnType<typeof startBooks>>) {
    const expected = new Map<string, { outcome: string; status: number; usage?: Json }>();
    const idOf = (r: Response) => r.headers.get("x-request-id")!;
    // answered in full, whole and streamed; the response says what it cost
    for (const stream of [false, true, false, true]) {
      const r = await s.post("/v1/completions", { model: "small", prompt: "Once", max_tokens: 12, temperature: 0, stream, stream_options: { include_usage: true } });
      const text = await r.text();
      const usage = stream ? JSON.parse(text.split("\n\n").filter((e) => e.startsWith("data: {")).at(-1)!.slice(6)).usage : JSON.parse(text).usage;
      assert.equal(typeof usage.cost, "number");
      if (!stream) assert.equal(Number(r.headers.get("x-inferd-cost")), usage.cost);
      assert.equal(r.headers.get("x-inferd-model"), "small");
      expected.set(idOf(r), { outcome: "ok", status: 200, usage });
    }
    up.script(twoTokens());
    const paid = await s.post("/v1/chat/completions", { model: "paid", messages: [{ role: "user", content: "hi" }], max_tokens: 10 });
    const paidUsage = ((await paid.json()) as Json).usage;
    assert.equal(paidUsage.cost, 2, "2 output tokens at $1");
    expected.set(idOf(paid), { outcome: "ok", status: 200, usage: paidUsage });
    // cancelled mid-stream
    for (let i = 0; i < 2; i++) {
      const ac = new AbortController();
      const r = await s.post("/v1/completions", { model: "small", prompt: "", max_tokens: 400, ignore_eos: true, stream: true }, {}, ac.signal);
      const reader = r.body!.getReader();
      await reader.read();
      ac.abort();
      expected.set(idOf(r), { outcome: "cancelled", status: 200 });
    }
    // an upstream that fails (after its retries): an error
    up.script(fault.status(500), fault.status(500), fault.status(500));
    const failed = await s.post("/v1/completions", { model: "paid", prompt: "x", max_tokens: 5 });
    assert.equal(failed.status, 502);
    expected.set(idOf(failed), { outcome: "error", status: 502 });
    // refusals: over capacity, too long, no such model
    for (const [body, status] of [
      [{ model: "small", prompt: "x", max_tokens: 5, n: 3 }, 429],
      [{ model: "small", prompt: "x", max_tokens: 100_000 }, 400],
      [{ model: "nope", prompt: "x" }, 404],
    ] as const) {
      const r = await s.post("/v1/completions", body);
      assert.equal(r.status, status);
      await r.text();
      expected.set(idOf(r), { outcome: "refused", status });
    }
    return expected;
  }

  async function checkRows(store: LedgerStore, expected: Awaited<ReturnType<typeof mixedLoad>>) {
    const rows = await rowsOf(store, expected.size);
    assert.equal(rows.size, expected.size, "one row per request, no more");
    for (const [id, want] of expected) {
      const row = rows.get(id);
      assert.ok(row, `a row for ${id}`);
      assert.equal(row.outcome, want.outcome, id);
      assert.equal(row.status, want.status, id);
      if (want.usage !== undefined) {
        assert.equal(row.inputTokens, want.usage.prompt_tokens);
        assert.equal(row.outputTokens, want.usage.completion_tokens);
        assert.ok(Math.abs(row.costUsd! - want.usage.cost) < 1e-12, `${row.costUsd} vs ${want.usage.cost}`);
      }
    }
    const cancelled = [...rows.values()].filter((r) => r.outcome === "cancelled");
    assert.ok(cancelled.every((r) => r.outputTokens > 0 && r.finishReason === "abort" && r.costUsd! > 0), "a cancelled request pays for what it generated");
  }

  it("SQLite: the rows equal the requests sent, by outcome, tokens and cost", async () => {
    const store = SqliteStore.open(join(await mkdtemp(join(tmpdir(), "inferd-books-")), "ledger.sqlite"));
    const s = await startBooks({ store, up, stories });
    try {
      await checkRows(store, await mixedLoad(s));
    } finally {
      await s.close();
    }
  });

  it("PostgreSQL: the same", needsPostgres, async () => {
    pgServer = await startPostgres();
    const store = await PostgresStore.open(await pgServer.createDatabase("books"));
    const s = await startBooks({ store, up, stories });
    try {
      await checkRows(store, await mixedLoad(s));
    } finally {
      await s.close();
    }
  });
});

describe("the books: keys, budgets and limits over HTTP", needsShared, () => {
  let stories: Engine;
  let up: FaultUpstream;
  let redis: TestRedis | undefined;
  before(async () => {
    stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, kvTierBytes: 0 });
    up = await FaultUpstream.start();
  });
  after(async () => {
    await stories?.dispose();
    await up?.close();
    await redis?.stop();
  });

  async function budgetRace(limits: Limits, keys: KeyStore) {
    const store = SqliteStore.open(join(await mkdtemp(join(tmpdir(), "inferd-budget-")), "ledger.sqlite"));
    const s = await startBooks({ store, limits, keys, up, stories });
    try {
      // reserved at its worst case: 10 output tokens at $1 = $10 each, against $100
      const { plaintext } = keys.create({ name: `team-${Math.random().toString(36).slice(2)}`, budgetUsd: 100, period: "month" });
      const auth = { authorization: `Bearer ${plaintext}` };
      up.requests.length = 0;
      up.script(...Array.from({ length: 10 }, () => twoTokens(300)));
      const res = await Promise.all(Array.from({ length: 30 }, () => s.post("/v1/chat/completions", { model: "paid", messages: [{ role: "user", content: "hi" }], max_tokens: 10 }, auth)));
      const bodies = (await Promise.all(res.map((r) => r.json()))) as Json[];
      const ok = res.filter((r) => r.status === 200).length;
      assert.equal(ok, 10, "exactly the budget's worth of worst cases run at once: no overspend by racing requests");
      assert.equal(up.requests.length, 10, "the refused ones never reached the upstream");
      for (const [i, r] of res.entries()) if (r.status !== 200) assert.equal(bodies[i].error.code, "insufficient_quota");
      // settled from the real cost: 10 x $2 spent, the rest of the reservations freed
      const state = await limits.state(keys.get(keys.list().at(-1)!.name)!);
      assert.equal(state.spentUsd, 20);
      assert.equal(state.reservedUsd, 0);
      // the key's rows, refusals included
      const rows = await rowsOf(store, 30);
      assert.equal([...rows.values()].filter((r) => r.outcome === "refused" && r.keyId !== null).length, 20);
      // a key sees its own usage, and only it
      const other = keys.create({ name: `other-${Math.random().toString(36).slice(2)}` });
      const mine = (await (await fetch(`${s.base}/v1/usage?by=key`, { headers: auth })).json()) as Json;
      assert.equal(mine.data.length, 1);
      assert.equal(mine.data[0].requests, 30);
      assert.equal(mine.data[0].cost_usd, 20);
      const theirs = (await (await fetch(`${s.base}/v1/usage?by=key`, { headers: { authorization: `Bearer ${other.plaintext}` } })).json()) as Json;
      assert.deepEqual(theirs.data, []);
      // no key, a wrong key: 401, and a row
      const none = await s.post("/v1/chat/completions", { model: "paid", messages: [{ role: "user", content: "hi" }] });
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as Json).error.code, "invalid_api_key");
      assert.equal((await s.post("/v1/chat/completions", { model: "paid", messages: [] }, { authorization: "Bearer sk-inferd-wrong" })).status, 400, "a malformed body is refused before its key is read");
    } finally {
      await s.close();
    }
  }

  it("in process: a budget is never overspent by racing requests; refusals are rows", async () => {
    const keys = new KeyStore(join(await mkdtemp(join(tmpdir(), "inferd-keys-")), "keys.sqlite"));
    const limits = new MemoryLimits({ ledger: keys });
    try {
      await budgetRace(limits, keys);
    } finally {
      await limits.close();
      keys.close();
    }
  });

  it("on Redis: the same", needsRedis, async () => {
    redis = await startRedis();
    const keys = new KeyStore(join(await mkdtemp(join(tmpdir(), "inferd-keys-")), "keys.sqlite"));
    const limits = new RedisLimits({ url: redis.url });
    try {
      await budgetRace(limits, keys);
    } finally {
      await limits.close();
      keys.close();
    }
  });

  it("a key limited to some models gets a 404 for the others; rate limits answer 429 with Retry-After", async () => {
    const keys = new KeyStore(join(await mkdtemp(join(tmpdir(), "inferd-keys-")), "keys.sqlite"));
    const limits = new MemoryLimits({ ledger: keys });
    const store = SqliteStore.open(join(await mkdtemp(join(tmpdir(), "inferd-rate-")), "ledger.sqlite"));
    const s = await startBooks({ store, limits, keys, up, stories });
    try {
      const { plaintext } = keys.create({ name: "narrow", models: ["small"], rpm: 2 });
      const auth = { "x-api-key": plaintext };
      assert.equal((await s.post("/v1/completions", { model: "paid", prompt: "x", max_tokens: 2 }, auth)).status, 404);
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 3; i++) {
        const r = await s.post("/v1/completions", { model: "small", prompt: "x", max_tokens: 2 }, auth);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get("retry-after");
        await r.text();
      }
      assert.deepEqual(statuses, [200, 200, 429]);
      assert.ok(Number(retryAfter) >= 1);
    } finally {
      await s.close();
      await limits.close();
      keys.close();
    }
  });
});
