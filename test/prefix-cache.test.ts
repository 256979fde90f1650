/**
 * Automatic prefix caching on the real stories260K model: the cache changes what is computed,
 * never what is generated.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Engine, type GenerateStats } from "../src/index.js";
import { CostModel } from "../src/engine/cost-model.js";
import { StateStore } from "../src/engine/state-store.js";
import { commonPrefix } from "../src/engine/prefix-index.js";
import { needsShared, STORIES } from "./shared.js";

async function greedy(engine: Engine, prompt: number[], maxTokens = 24): Promise<{ tokens: number[]; stats: GenerateStats }> {
  const tokens: number[] = [];
  let stats: GenerateStats | undefined;
  for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens })) {
    if (ev.type === "delta") tokens.push(...ev.tokens);
    else stats = ev.stats;
  }
  return { tokens, stats: stats! };
}

/** Tokens computed by the engine while `fn` runs. */
async function computedDuring(engine: Engine, counter: { n: number }, fn: () => Promise<unknown>): Promise<number> {
  const before = counter.n;
  await fn();
  return counter.n - before;
}

describe("prefix caching on stories260K", needsShared, () => {
  let on: Engine;
  let off: Engine;
  const computed = { n: 0 };
  let story: number[];

  before(async () => {
    on = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 4, kvTierBytes: 0 });
    off = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 4, prefixCache: false });
    on.onStep((s) => (computed.n += s.tokens));
    story = on.tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her big red ball and her dog.");
    assert.ok(story.length > 33, `a prompt of several 16-token blocks (${story.length})`);
  });
  after(async () => {
    await on?.dispose();
    await off?.dispose();
  });

  it("greedy output is identical with the cache on and off, for hits at every boundary", async () => {
    // one slot: each request takes over the cached prefix, however short the match
    const one = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 1, cacheSequences: 0, kvTierBytes: 0 });
    try {
      const other = one.tokenize(" The sun was hot and the cat slept all day long.", { addBos: false });
      // [name, what KV holds first, the prompt, where their common prefix ends]
      const cases: [string, number[], number[], number][] = [
        ["whole prompt", story, story, story.length - 1],
        ["mid-block", story.slice(0, 34), [...story.slice(0, 21), ...other], 21],
        ["one token (BOS)", story.slice(0, 1), [story[0]!, ...other], 1],
        ["none", story, other, 0],
      ];
      for (const [name, resident, prompt, at] of cases) {
        const hit = Math.min(commonPrefix(resident, prompt), prompt.length - 1);
        assert.ok(hit >= at && hit < at + 3, `${name}: the prompts share ${hit} tokens`);
        await greedy(one, resident, 1); // what KV holds (a one-token prompt computes just that token)
        const a = await greedy(one, prompt);
        const b = await greedy(off, prompt);
        assert.deepEqual(a.tokens, b.tokens, name);
        assert.equal(a.stats.cachedTokens, hit, name);
        assert.equal(b.stats.cachedTokens, 0);
      }
    } finally {
      await one.dispose();
    }
  });

  it("multi-turn: turn N computes only what turn N-1 did not", async () => {
    let history = story;
    for (let turn = 0; turn < 4; turn++) {
      const r = await greedy(on, history, 8);
      const next = [...history, ...r.tokens, ...on.tokenize(" Then what?", { addBos: false })];
      if (turn > 0) assert.ok(r.stats.cachedTokens >= history.length - 12, `turn ${turn}: ${r.stats.cachedTokens} of ${history.length}`);
      history = next;
    }
  });

  it("concurrent requests sharing a prefix compute it once", async () => {
    const prefix = on.tokenize("Tom had a big blue boat. He liked to sail it on the lake every morning with his friend Sam and their little dog Max.");
    const tails = [" One day", " The end", " But then"].map((t) => on.tokenize(t, { addBos: false }));
    const n = await computedDuring(on, computed, () => Promise.all(tails.map((t) => greedy(on, [...prefix, ...t], 4))));
    const tailTokens = tails.reduce((s, t) => s + t.length, 0);
    assert.ok(n <= prefix.length + tailTokens + 3 * 4, `${n} tokens computed for a ${prefix.length}-token prefix shared by 3 requests`);
    const ref = await Promise.all(tails.map((t) => greedy(off, [...prefix, ...t], 4)));
    const again = await Promise.all(tails.map((t) => greedy(on, [...prefix, ...t], 4)));
    assert.deepEqual(again.map((r) => r.tokens), ref.map((r) => r.tokens));
  });

  it("cached prefixes never disturb running requests (eviction only takes idle slots)", async () => {
    const small = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, cacheSequences: 1, kvTierBytes: 0 });
    try {
      const long = greedy(small, story, 120);
      const churn = [];
      for (let i = 0; i < 6; i++) churn.push(await greedy(small, small.tokenize(`Lily and Tom number ${i} went to the shop.`), 6));
      assert.deepEqual((await long).tokens, (await greedy(off, story, 120)).tokens);
    } finally {
      await small.dispose();
    }
  });
});

describe("the saved-KV tier on stories260K", needsShared, () => {
  it("restores bit-identical continuations; a corrupt or stale state is ignored, not loaded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inferd-kv-"));
    // one slot and no spare: every new request evicts (and saves) the previous prefix
    const engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 1, cacheSequences: 0, kvTierDir: dir, kvTierBytes: 64 << 20 });
    const off = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 1, prefixCache: false });
    try {
      const text = (s: string) => engine.tokenize(s.repeat(3));
      const a = text("Once upon a time, there was a little girl named Lily who loved the park. ");
      const b = text("Tom had a big blue boat and he sailed it on the lake every day. ");
      assert.ok(a.length >= 64 && b.length >= 64);
      await greedy(engine, a);
      await greedy(engine, b); // evicts a's prefix to the tier
      assert.equal(readdirSync(dir).filter((f) => f.endsWith(".state")).length, 1, "a's prefix was saved");
      const restored = await greedy(engine, a); // restores a (evicting and saving b)
      assert.ok(restored.stats.cachedTokens >= a.length - 1, `restored ${restored.stats.cachedTokens} tokens`);
      assert.deepEqual(restored.tokens, (await greedy(off, a)).tokens, "bit-identical continuation");

      // corrupt b's saved state: it must be detected, deleted and recomputed
      const states = readdirSync(dir).filter((f) => f.endsWith(".state"));
      for (const f of states) {
        const p = join(dir, f);
        const data = readFileSync(p);
        data[data.length >> 1] ^= 0xff;
        writeFileSync(p, data);
      }
      const recomputed = await greedy(engine, b);
      assert.deepEqual(recomputed.tokens, (await greedy(off, b)).tokens);
      assert.equal(recomputed.stats.cachedTokens, 0, "nothing came from the corrupt file");
    } finally {
      await engine.dispose();
      await off.dispose();
    }
    // a state of another model in the same folder is never indexed
    const stale = mkdtempSync(join(tmpdir(), "inferd-kv-"));
    writeFileSync(join(stale, "x.state"), "not a state");
    writeFileSync(join(stale, "x.json"), JSON.stringify({ version: 1, model: "another-model", tokens: [1, 2], bytes: 11, sha256: "0" }));
    const store = await StateStore.open(stale, 1 << 20, "this-model", new CostModel());
    assert.equal(store.size.entries, 0);
    assert.deepEqual(readdirSync(stale).sort(), ["x.json", "x.state"], "another model's files are left alone");
  });
});
