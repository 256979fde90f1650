/**
 * Contract test for the internal node-llama-cpp addon API that llama-backend.ts uses. If an
 * upgrade of node-llama-cpp changes any of it, this fails loudly, naming what changed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { packageRoot } from "../util/paths.js";
import { needsShared, STORIES } from "../../test/shared.js";

const PINNED = "3.22.1";

describe("node-llama-cpp addon contract", () => {
  it(`node-llama-cpp is pinned to exactly ${PINNED}`, () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8"));
    assert.equal(pkg.dependencies["node-llama-cpp"], PINNED, "package.json pins an exact version");
    const installed = JSON.parse(readFileSync(join(packageRoot(), "node_modules", "node-llama-cpp", "package.json"), "utf8"));
    assert.equal(installed.version, PINNED, "the installed version is the pinned one");
  });

  it("exposes the batch-level calls the backend uses", needsShared, async () => {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const bindings = (llama as unknown as { _bindings: Record<string, unknown> })._bindings;
    for (const name of ["AddonContext", "AddonSampler", "AddonGrammar", "AddonGrammarEvaluationState", "getIsArchSupported"]) {
      assert.equal(typeof bindings[name], "function", `Llama._bindings.${name}`);
    }
    const model = await llama.loadModel({ modelPath: STORIES! });
    const addonModel = (model as unknown as { _model: Record<string, unknown> })._model;
    for (const name of ["tokenize", "detokenize", "isEogToken"]) {
      assert.equal(typeof addonModel[name], "function", `LlamaModel._model.${name}`);
    }
    const Ctx = bindings.AddonContext as new (m: unknown, p: object) => Record<string, (...a: unknown[]) => unknown>;
    const ctx = new Ctx(addonModel, { contextSize: 64, batchSize: 16, sequences: 2, threads: 1 });
    assert.equal(await ctx.init!(), true);
    assert.equal(typeof (bindings.AddonSampler as Record<string, unknown>).acceptGrammarEvaluationStateToken, "function", "AddonSampler.acceptGrammarEvaluationStateToken");
    for (const name of [
      "initBatch", "addToBatch", "decodeBatch", "sampleToken", "disposeSequence", "removeTokenCellsFromSequence", "setThreads", "getContextSize",
      "copySequenceStateFromOtherSequence", "saveSequenceStateToFile", "loadSequenceStateFromFile",
    ]) {
      assert.equal(typeof ctx[name], "function", `AddonContext.${name}`);
    }
    // behaviour: a batch over two sequences returns one logit index per requested position
    ctx.initBatch!(3);
    const i0 = ctx.addToBatch!(0, 0, Uint32Array.of(1, 403), Uint32Array.of(1)) as Uint32Array;
    const i1 = ctx.addToBatch!(1, 0, Uint32Array.of(1), Uint32Array.of(0)) as Uint32Array;
    assert.equal(i0.length, 1);
    assert.equal(i1.length, 1);
    await ctx.decodeBatch!();
    const Sampler = bindings.AddonSampler as new (m: unknown) => { applyConfig(c: object): void; dispose(): void };
    const sampler = new Sampler(addonModel);
    sampler.applyConfig({ temperature: 0 });
    assert.equal(await ctx.sampleToken!(i0[0], sampler), 407, "greedy after BOS ' Once' is ' upon'");
    assert.equal(await ctx.sampleToken!(i1[0], sampler), 403, "greedy after BOS is ' Once'");
    const [tok, probs] = (await ctx.sampleToken!(i1[0], sampler, true)) as [number, number[]];
    assert.equal(tok, 403);
    assert.equal(probs[0], 403, "probabilities come as [token, p, token, p, ...], most likely first");
    assert.ok(probs[1]! > 0 && probs[1]! <= 1);
    assert.equal(ctx.removeTokenCellsFromSequence!(0, 0, -1), true);
    sampler.dispose();
    await ctx.dispose!();
    await model.dispose();
  });
});
