import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promptFeatures } from "./features.js";
import { loadRouterModel, routerModel, saveRouterModel, trainLogistic } from "./learned.js";

// the large model is needed for chemistry, not for geography
const prompts = [
  ...["What is the molar mass of water?", "Balance the chemical equation for combustion.", "Which bond is strongest in the molecule?", "What is the pH of a buffer solution?"].map((p) => ({ p, y: 1 as const })),
  ...["What is the capital of France?", "Which river flows through Cairo?", "Which continent is Kenya on?", "What is the largest ocean?"].map((p) => ({ p, y: 0 as const })),
];

describe("the learned router", () => {
  const trained = trainLogistic(prompts.map(({ p, y }) => ({ x: promptFeatures(p), y })), { l2: 1e-4, epochs: 200 });
  const model = routerModel("prompt", "large-needed", trained, { dataset: "toy", examples: prompts.length, l2: 1e-4, epochs: 200 });

  it("learns which prompts need the large model, and generalizes by their words", () => {
    const file = join(mkdtempSync(join(tmpdir(), "inferd-router-")), "router.json");
    saveRouterModel(file, model);
    const scorer = loadRouterModel(file);
    for (const { p, y } of prompts) assert.equal(scorer.score(p) > 0.5, y === 1, p);
    assert.ok(scorer.score("What is the molar mass of a chemical compound?") > scorer.score("What is the capital of Kenya?"));
  });
  it("scores the same after a round trip through its file", () => {
    const file = join(mkdtempSync(join(tmpdir(), "inferd-router-")), "router.json");
    saveRouterModel(file, model);
    const again = loadRouterModel(file);
    saveRouterModel(file, again.model);
    const third = loadRouterModel(file);
    for (const { p } of prompts) assert.equal(third.score(p), again.score(p));
  });
  it("refuses a file that is not a router", () => {
    const file = join(mkdtempSync(join(tmpdir(), "inferd-router-")), "router.json");
    saveRouterModel(file, { ...model, format: "other" as "inferd-router/1" });
    assert.throws(() => loadRouterModel(file), /not a router trained by inferd route train/);
  });
});
