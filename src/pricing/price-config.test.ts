import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { emptyUsage } from "../providers/usage.js";
import { priceBook, readPricedModels } from "./price-book.js";
import { DEFAULT_MACHINE_USD_PER_HOUR, mergePrice, priceConfigSchema, resolveModelPrice } from "./price-config.js";
import { lookupPrice, priceTable } from "./table.js";

const table = priceTable();

describe("price config: the `price` field's schema", () => {
  it("takes the documented fields, snake_case, and refuses typos, negatives and strings", () => {
    const full = { input: 2.5, cached_input: 0.25, cache_write: 3.125, cache_write_1h: 5, output: 10, reasoning: 10, tiers: [{ above_input_tokens: 200000, input: 5, output: 15 }] };
    assert.deepEqual(priceConfigSchema.parse(full), full);
    assert.deepEqual(priceConfigSchema.parse({ machine_usd_per_hour: 0.2 }), { machine_usd_per_hour: 0.2 });
    assert.equal(priceConfigSchema.safeParse({ ouptut: 1 }).success, false);
    assert.equal(priceConfigSchema.safeParse({ cachedInput: 1 }).success, false, "camelCase is not the file's convention");
    assert.equal(priceConfigSchema.safeParse({ input: -1 }).success, false);
    assert.equal(priceConfigSchema.safeParse({ input: "2.5" }).success, false);
    assert.equal(priceConfigSchema.safeParse({ tiers: [{ above_input_tokens: 1000, input: 5 }] }).success, false, "a tier needs its output rate");
    assert.equal(priceConfigSchema.safeParse({ machine_usd_per_hour: -0.1 }).success, false);
  });
});

describe("price config: merged over the table", () => {
  it("an override of output alone keeps the row's other rates, its tiers, source and date", () => {
    const p = mergePrice("claude-sonnet-4-5", lookupPrice(table, "claude-sonnet-4-5"), { output: 12 })!;
    assert.deepEqual(p.rates, { input: 3, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6, output: 12 });
    assert.equal(p.tiers.length, 1);
    assert.equal(p.tiers[0]!.output, 22.5);
    assert.deepEqual(p.overridden, ["output"]);
    assert.equal(p.source, "https://docs.anthropic.com/en/docs/about-claude/pricing");
    assert.equal(p.date, "2025-09");
  });

  it("tiers from the config replace the row's", () => {
    const p = mergePrice("gemini-2.5-pro", lookupPrice(table, "gemini-2.5-pro"), { tiers: [{ above_input_tokens: 100_000, input: 9, output: 99 }] })!;
    assert.deepEqual(p.tiers, [{ aboveInputTokens: 100_000, input: 9, output: 99 }]);
    assert.equal(p.rates.input, 1.25);
  });

  it("a model the table lacks needs input and output from the config", () => {
    const p = mergePrice("my-finetune", undefined, { input: 1, output: 2 })!;
    assert.deepEqual([p.source, p.match, p.family, p.rates], ["config", "config", undefined, { input: 1, output: 2 }]);
    assert.throws(() => mergePrice("my-finetune", undefined, { output: 2 }), /no such model, so input and output are both needed/);
    assert.equal(mergePrice("my-finetune", undefined, undefined), undefined);
  });

  it("local models are priced by the machine's hour: the config's, else the documented default", () => {
    assert.equal(DEFAULT_MACHINE_USD_PER_HOUR, 0.126);
    const d = resolveModelPrice({ provider: "local", model: "small" }, table).price;
    assert.equal(d?.kind === "compute" && d.usdPerHour, 0.126);
    const own = resolveModelPrice({ provider: "local", model: "small", price: { machine_usd_per_hour: 0.5 } }, table).price;
    assert.deepEqual(own, { kind: "compute", usdPerHour: 0.5, source: "config" });
    assert.throws(() => resolveModelPrice({ provider: "local", model: "small", price: { input: 1 } }, table), /a local model is priced by the machine's hour/);
    assert.throws(() => resolveModelPrice({ provider: "oa", model: "gpt-4o", price: { machine_usd_per_hour: 1 } }, table), /machine_usd_per_hour is for local models/);
  });

  it("says once when a price is a guess (a prefix) or missing", () => {
    assert.match(resolveModelPrice({ provider: "g", model: "gemini-2.5-pro-preview-06-05" }, table).notes[0]!, /priced as google\/gemini-2\.5-pro, the longest known id/);
    const none = resolveModelPrice({ provider: "lab", model: "stories260K" }, table);
    assert.equal(none.price, undefined);
    assert.match(none.notes[0]!, /no price for "stories260K"/);
    assert.deepEqual(resolveModelPrice({ provider: "oa", model: "gpt-4o-2024-08-06" }, table).notes, []);
  });
});

describe("price book: billed at the model that answered", () => {
  const models = [
    { name: "smart", provider: "oa", model: "gpt-4o", price: { output: 12 }, fallbacks: ["small"] },
    { name: "small", provider: "local", model: "/models/small.gguf" },
    { name: "lab", provider: "lab", model: "stories260K" },
  ];

  it("prices each record by its provider and model, a local one by its route name", () => {
    const book = priceBook(models, table);
    // gpt-4o with output at 12: 1000*2.5 + 100*12 = 2500 + 1200 micro-dollars
    assert.equal(book.cost({ ...emptyUsage("oa", "gpt-4o"), inputTokens: 1000, outputTokens: 100 }).usd, 0.0037);
    // the request fell back to the local model: its record says so, and it is billed by compute (3600 ms of $0.126/h)
    assert.equal(book.cost({ ...emptyUsage("local", "small"), inputTokens: 1000, outputTokens: 100, compute: { ms: 3600, savedMs: 0 } }).usd, 0.000126);
    assert.equal(book.cost({ ...emptyUsage("lab", "stories260K"), inputTokens: 10 }).usd, null);
    assert.equal(book.cost({ ...emptyUsage("other", "gpt-4o"), inputTokens: 10 }).usd, null, "an unknown provider is not guessed");
    assert.deepEqual(book.notes.length, 1);
    assert.match(book.notes[0]!, /^lab: no price for "stories260K"/);
  });

  it("refuses two entries of one provider and model at different prices", () => {
    assert.throws(() => priceBook([...models, { name: "smart2", provider: "oa", model: "gpt-4o", price: { output: 13 } }], table), /"smart" and "smart2" are oa\/gpt-4o at two different prices/);
    assert.doesNotThrow(() => priceBook([...models, { name: "smart2", provider: "oa", model: "gpt-4o", price: { output: 12 } }], table));
  });

  it("reads a config file's models and prices, checking only the price fields strictly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inferd-prices-"));
    const file = join(dir, "inferd.yaml");
    writeFileSync(file, "providers:\n  oa: { type: openai }\nmodels:\n  - { name: smart, provider: oa, model: gpt-4o, fallbacks: [small], price: { output: 12 } }\n  - { name: small, provider: local, model: x.gguf, context: 512 }\n");
    assert.deepEqual(await readPricedModels(file), [
      { name: "smart", provider: "oa", model: "gpt-4o", price: { output: 12 } },
      { name: "small", provider: "local", model: "x.gguf" },
    ]);
    writeFileSync(file, "models:\n  - { name: smart, provider: oa, model: gpt-4o, price: { ouptut: 12 } }\n");
    await assert.rejects(readPricedModels(file), /inferd\.yaml: models\[0\]\.price\.ouptut: /);
    await assert.rejects(readPricedModels(join(dir, "missing.yaml")), /cannot read config file/);
  });
});
