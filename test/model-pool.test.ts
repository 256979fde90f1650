/**
 * The model pool on real models: stories260K (its reference text) and a synthetic SmolLM2-135M
 * q4_0 (its output alone, loaded outside the pool). Budgets are set from the models' own
 * estimates so that exactly one fits, or neither.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Engine, estimateMemory, isInferdError, ModelPool, type EngineOptions, type Lease } from "../src/index.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

const STORY: EngineOptions = { model: STORIES!, threads: 1, maxSequences: 2, contextSize: 256, kvTierBytes: 0 };
const SMOL: EngineOptions = { model: "synthetic:smollm2-135m-q4_0", threads: 1, maxSequences: 1, contextSize: 256, kvTierBytes: 0 };
const MODELS = [
  { name: "stories", options: STORY },
  { name: "smol", options: SMOL },
];

async function greedy(engine: Engine, prompt: string, maxTokens: number): Promise<string> {
  let text = "";
  for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens, ignoreEos: true })) if (ev.type === "delta") text += ev.text;
  return text;
}

const storyText = (l: Lease) => greedy(l.engine, "", 200);
const smolText = (l: Lease) => greedy(l.engine, "Hello, my name is", 12);

/** Names of the models the pool holds, with their states. */
const held = (pool: ModelPool) => pool.loaded().map((m) => `${m.name}:${m.state}`);

/** Whether `p` is still pending after the event loop has had `ms` to settle it. */
async function pending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol();
  return (await Promise.race([p.then(() => undefined, () => undefined), sleep(ms, marker)])) === marker;
}

describe("ModelPool", needsShared, () => {
  let storyBytes: number;
  let smolBytes: number;
  let smolAlone: string;
  /** Fits either model alone, not both. */
  let oneFits: number;
  const pools: ModelPool[] = [];
  const pool = (budget: number, ttlMs = 60_000) => {
    const p = new ModelPool(MODELS, { memoryBudgetBytes: budget, ttlMs });
    pools.push(p);
    return p;
  };

  before(async () => {
    storyBytes = (await estimateMemory(STORY)).bytes;
    smolBytes = (await estimateMemory(SMOL)).bytes;
    oneFits = storyBytes + smolBytes - 1;
    const alone = await Engine.load(SMOL);
    smolAlone = await greedy(alone, "Hello, my name is", 12);
    await alone.dispose();
  });
  after(async () => {
    for (const p of pools) await p.close();
  });

  it("(a) two models under a budget that fits one: each answers right, the idle one is unloaded for the other", async () => {
    const p = pool(oneFits);
    const first = await p.acquire("stories");
    assert.deepEqual(p.loaded(), [{ name: "stories", state: "ready", bytes: storyBytes, leases: 1 }]);
    assert.equal(await storyText(first), storiesReference());
    first.release();
    const second = await p.acquire("smol");
    assert.deepEqual(p.loaded(), [{ name: "smol", state: "ready", bytes: smolBytes, leases: 1 }]);
    await assert.rejects(storyText(first), (e) => isInferdError(e, "offline"), "the unloaded engine was disposed");
    assert.equal(await smolText(second), smolAlone);
    second.release();
    const again = await p.acquire("stories");
    assert.deepEqual(held(p), ["stories:ready"]);
    assert.equal(await storyText(again), storiesReference());
    again.release();
    assert.deepEqual(p.counts, { loads: 3, unloads: 2 });
  });

  it("(b) an idle model is unloaded after its TTL, never while leased; a new lease cancels the timer", async () => {
    const p = pool(Infinity, 300);
    const lease = await p.acquire("stories");
    await sleep(600);
    assert.deepEqual(held(p), ["stories:ready"], "a leased model outlives its TTL");
    const other = await p.acquire("stories");
    lease.release();
    await sleep(600);
    assert.deepEqual(p.loaded(), [{ name: "stories", state: "ready", bytes: storyBytes, leases: 1 }], "one lease of two released: still in use");
    assert.equal(await storyText(other), storiesReference());
    other.release();
    await sleep(100);
    const again = await p.acquire("stories");
    assert.equal(again.engine, lease.engine, "re-acquired before the TTL: the same engine");
    again.release();
    const idleSince = performance.now();
    while (p.loaded().length > 0) await sleep(20);
    const waited = performance.now() - idleSince;
    assert.ok(waited >= 280 && waited < 3000, `unloaded ~300 ms after the last release (${waited.toFixed(0)} ms)`);
    assert.deepEqual(p.counts, { loads: 1, unloads: 1 });
  });

  it("(c) concurrent acquires share one load; an acquire during an unload waits for it, never two copies", async () => {
    const p = pool(Infinity, 0);
    const leases = await Promise.all([p.acquire("smol"), p.acquire("smol"), p.acquire("smol")]);
    assert.equal(new Set(leases.map((l) => l.engine)).size, 1);
    assert.deepEqual(p.loaded(), [{ name: "smol", state: "ready", bytes: smolBytes, leases: 3 }]);
    assert.equal(p.counts.loads, 1);
    leases[0]!.release();
    leases[0]!.release(); // a lease releases once, however often it is called
    assert.equal(p.loaded()[0]!.leases, 2);
    const old = leases[1]!.engine;
    let disposed = 0;
    const dispose = old.dispose.bind(old);
    old.dispose = async () => {
      await dispose();
      disposed = performance.now();
    };
    const load = Engine.load;
    let loadStarted = 0;
    Engine.load = (opts) => {
      loadStarted = performance.now();
      return load.call(Engine, opts);
    };
    try {
      leases[1]!.release();
      leases[2]!.release();
      await sleep(5); // TTL 0: the unload has begun
      assert.deepEqual(held(p), ["smol:unloading"]);
      const fresh = await p.acquire("smol");
      assert.notEqual(fresh.engine, old);
      assert.ok(disposed > 0 && loadStarted >= disposed, "the new copy was loaded only after the old one was freed");
      assert.equal(await smolText(fresh), smolAlone);
      fresh.release();
    } finally {
      Engine.load = load;
    }
  });

  it("(d) a model too big for the budget fails at once, naming it, its estimate and the budget", async () => {
    const p = pool(storyBytes + 1024 * 1024);
    const busy = await p.acquire("stories");
    const t0 = performance.now();
    const r = p.acquire("smol");
    assert.ok(!(await pending(r, 2000)), "it did not wait for the busy model");
    await assert.rejects(r, (e) => {
      assert.ok(isInferdError(e, "invalid_model"));
      assert.match(e.message, /local model "smol" needs about \d+\.\d MiB \(weights 73\.9 MiB \+ KV cache \d+\.\d MiB\) but the memory budget is \d+\.\d MiB/);
      return true;
    });
    assert.ok(performance.now() - t0 < 2000);
    assert.deepEqual(held(p), ["stories:ready"], "nothing was unloaded for it");
    busy.release();
    await assert.rejects(p.acquire("gpt-9"), (e) => isInferdError(e, "model_not_found") && /"gpt-9".*stories, smol/.test(e.message));
  });

  it("(e) an acquire waits while the model in the way is busy, proceeds once it is released, and its signal cancels it", async () => {
    const p = pool(oneFits);
    const busy = await p.acquire("stories");
    const running = storyText(busy);
    const waiting = p.acquire("smol");
    assert.ok(await pending(waiting, 300), "smol waits: stories is leased");
    assert.deepEqual(p.loaded(), [{ name: "stories", state: "ready", bytes: storyBytes, leases: 1 }]);
    assert.equal(await running, storiesReference(), "the busy model was not unloaded under its request");
    busy.release();
    const smol = await waiting;
    assert.deepEqual(held(p), ["smol:ready"]);
    assert.equal(await smolText(smol), smolAlone);

    const ac = new AbortController();
    const cancelled = p.acquire("stories", ac.signal);
    assert.ok(await pending(cancelled, 200));
    ac.abort();
    await assert.rejects(cancelled, (e) => isInferdError(e, "aborted") && /"stories"/.test(e.message));
    await assert.rejects(p.acquire("stories", AbortSignal.abort()), (e) => isInferdError(e, "aborted"));
    assert.deepEqual(p.loaded(), [{ name: "smol", state: "ready", bytes: smolBytes, leases: 1 }], "cancelled acquires left nothing behind");
    smol.release();
    const story = await p.acquire("stories");
    assert.deepEqual(held(p), ["stories:ready"]);
    story.release();
  });

  it("close disposes every model, leased or not; later acquires are refused", async () => {
    const p = pool(Infinity);
    const [a, b] = await Promise.all([p.acquire("stories"), p.acquire("smol")]);
    a.release();
    await p.close();
    assert.deepEqual(p.loaded(), []);
    await assert.rejects(smolText(b), (e) => isInferdError(e, "offline"));
    await assert.rejects(p.acquire("stories"), (e) => isInferdError(e, "offline"));
    b.release();
  });
});
