import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isInferdError } from "../util/errors.js";
import { resolveParams } from "./params.js";

describe("resolveParams", () => {
  it("fills defaults", () => {
    const r = resolveParams({});
    assert.equal(r.sampler.temperature, 1);
    assert.equal(r.sampler.topP, 1);
    assert.equal(r.stopAtEog, true);
    assert.ok(r.maxTokens > 1e9);
    assert.ok(Number.isInteger(r.sampler.seed));
  });
  for (const [param, value] of [
    ["maxTokens", -1],
    ["maxTokens", 0],
    ["temperature", -0.1],
    ["topP", 1.5],
    ["topP", 0],
    ["minP", 2],
    ["presencePenalty", 3],
    ["seed", -1],
    ["logprobs", 21],
  ] as const) {
    it(`rejects ${param} = ${value}, naming it`, () => {
      assert.throws(
        () => resolveParams({ [param]: value }),
        (e) => isInferdError(e, "invalid_argument") && e.details.param === param && e.message.includes(param),
      );
    });
  }
  it("takes logit bias as an object or a map", () => {
    assert.deepEqual([...resolveParams({ logitBias: { 5: -100 } }).sampler.logitBias], [[5, -100]]);
    assert.deepEqual([...resolveParams({ logitBias: new Map([[7, 3]]) }).sampler.logitBias], [[7, 3]]);
    assert.throws(() => resolveParams({ logitBias: { 5: 200 } }), /logitBias/);
  });
});
