/**
 * The model pool's memory estimate: its KV layout is the one Engine.load really makes, and its
 * byte counts follow the models' shapes (real stories260K, synthetic SmolLM2-135M).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stat } from "node:fs/promises";
import { Engine, estimateMemory, isInferdError, type EngineOptions } from "../src/index.js";
import { kvBytesPerCell } from "../src/providers/local/memory-estimate.js";
import { needsShared, STORIES } from "./shared.js";

describe("memory estimate", needsShared, () => {
  it("plans the KV layout Engine.load makes: padded context, cache slots, defaults", async () => {
    const cases: EngineOptions[] = [
      { model: STORIES!, threads: 1, maxSequences: 2, contextSize: 100, kvTierBytes: 0 },
      { model: STORIES!, threads: 1, maxSequences: 3, contextSize: 300, cacheSequences: 1, kvTierBytes: 0 },
      { model: STORIES!, threads: 1, maxSequences: 2, prefixCache: false }, // default context: the trained 512
    ];
    for (const opts of cases) {
      const est = await estimateMemory(opts);
      const engine = await Engine.load(opts);
      try {
        assert.equal(est.cellsPerSequence, engine.kv.cellsPerSequence, JSON.stringify(opts));
        // one more sequence than the engine's context: the embedding context its first embed makes
        assert.equal(est.kvSequences, engine.kv.maxSequences + 1, JSON.stringify(opts));
      } finally {
        await engine.dispose();
      }
    }
  });

  it("counts the file and f16 K and V of every layer, cell and sequence", async () => {
    // stories260K: 5 layers, dim 64, 8 heads (width 8), 4 KV heads: K and V 32 wide, 2 bytes each
    const est = await estimateMemory({ model: STORIES!, maxSequences: 2, contextSize: 256 });
    assert.equal(est.weightsBytes, (await stat(STORIES!)).size);
    assert.equal(est.kvBytes, 5 * (32 + 32) * 2 * 256 * (2 + 2 + 1));
    assert.equal(est.bytes, est.weightsBytes + est.kvBytes);
    // SmolLM2-135M: 30 layers, 3 KV heads of width 64; llama.cpp logs 180 MiB of KV for 8192 cells
    const smol = await estimateMemory({ model: "synthetic:smollm2-135m-q4_0", maxSequences: 2, contextSize: 512, prefixCache: false });
    assert.equal(smol.kvBytes / (512 * 3), 30 * (192 + 192) * 2);
    assert.equal((smol.kvBytes / 3) * 16, 180 * 1024 ** 2);
  });

  it("adds a draft model's file and KV; per-layer head counts; errors name the file", async () => {
    const plain = await estimateMemory({ model: STORIES!, maxSequences: 2, contextSize: 256 });
    const drafted = await estimateMemory({ model: STORIES!, maxSequences: 2, contextSize: 256, draftModel: STORIES!, maxRunning: 1 });
    assert.equal(drafted.draftBytes, plain.weightsBytes + 640 * 256 * 1);
    assert.equal(drafted.bytes, plain.bytes + drafted.draftBytes);
    const ngram = await estimateMemory({ model: STORIES!, maxSequences: 2, contextSize: 256, draftModel: STORIES!, speculative: "ngram" });
    assert.equal(ngram.draftBytes, 0, "no draft model is loaded for ngram speculation");
    const hybrid = { general: { architecture: "x" }, x: { block_count: 3, embedding_length: 64, attention: { head_count: [8, 0, 8], head_count_kv: [2, 0, 4] } } };
    assert.equal(kvBytesPerCell(hybrid), (2 * 16 + 4 * 16) * 2, "a layer without heads keeps no KV");
    assert.equal(kvBytesPerCell({ general: { architecture: "rwkv" }, rwkv: { block_count: 4 } }), 0);
    await assert.rejects(estimateMemory({ model: "/nonexistent/model.gguf" }), (e) => isInferdError(e, "model_not_found") && /nonexistent/.test(e.message));
  });
});
