import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { cmp, mul, q } from "./money.js";
import type { Rates } from "./rates.js";
import { defaultTablePath, lookupPrice, parseTable, priceTable, type PriceRow } from "./table.js";

const table = priceTable();
const row = (model: string): PriceRow => {
  const r = table.rows.find((x) => x.model === model);
  assert.ok(r, `the table has ${model}`);
  return r;
};

describe("price table: the shipped file", () => {
  it("is found from the compiled code (dist/) in the source folder", () => {
    assert.match(defaultTablePath(), /src[/\\]pricing[/\\]prices\.json$/);
    assert.ok(existsSync(defaultTablePath()));
    assert.ok(import.meta.url.includes("/dist/"), "this test runs compiled");
  });

  it("covers the common hosted models of each family", () => {
    const want = [
      "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
      "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4", "claude-sonnet-4-5", "claude-3-5-haiku", "claude-haiku-4-5",
      "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
      "deepseek-chat", "deepseek-reasoner", "llama-3.3-70b-versatile", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "Qwen/Qwen2.5-72B-Instruct-Turbo",
    ];
    for (const m of want) assert.equal(lookupPrice(table, m)?.match, "exact", m);
  });

  it("gives every row its pricing page and an honest date (a month, not in the future)", () => {
    const now = new Date().toISOString().slice(0, 7);
    for (const r of table.rows) {
      assert.match(r.source, /^https:\/\//, r.model);
      assert.ok(r.date.slice(0, 7) <= now, `${r.model}: ${r.date}`);
      assert.ok(r.rates.input > 0 && r.rates.output > 0, r.model);
    }
  });

  it("prices Anthropic's cache as Anthropic does: writes 1.25x (5 min) and 2x (1 h) input, reads 0.1x", () => {
    const anthropic = table.rows.filter((r) => r.family === "anthropic");
    assert.ok(anthropic.length >= 6);
    const check = (what: string, r: Rates) => {
      assert.equal(cmp(q(r.cacheWrite!), mul(q(r.input), q(1.25))), 0, `${what} 5-minute write`);
      assert.equal(cmp(q(r.cacheWrite1h!), mul(q(r.input), q(2))), 0, `${what} 1-hour write`);
      assert.equal(cmp(q(r.cachedInput!), mul(q(r.input), q(0.1))), 0, `${what} read`);
    };
    for (const r of anthropic) {
      check(r.model, r.rates);
      for (const t of r.tiers) check(`${r.model} >${t.aboveInputTokens}`, t);
    }
  });

  it("has the long-context tiers: Sonnet 4 and 4.5 and Gemini 2.5 Pro past 200k prompt tokens", () => {
    for (const m of ["claude-sonnet-4", "claude-sonnet-4-5"]) {
      assert.deepEqual(row(m).tiers, [{ aboveInputTokens: 200_000, input: 6, cachedInput: 0.6, cacheWrite: 7.5, cacheWrite1h: 12, output: 22.5 }]);
    }
    assert.deepEqual(row("gemini-2.5-pro").tiers, [{ aboveInputTokens: 200_000, input: 2.5, cachedInput: 0.625, output: 15 }]);
    assert.deepEqual(row("claude-opus-4-1").tiers, []);
  });
});

describe("price table: lookup", () => {
  it("finds exact ids, aliases and dated ids (OpenAI's -YYYY-MM-DD, Anthropic's -YYYYMMDD, Vertex's @YYYYMMDD)", () => {
    assert.deepEqual(lookupPrice(table, "gpt-4o"), { row: row("gpt-4o"), match: "exact" });
    assert.deepEqual(lookupPrice(table, "gpt-4o-2024-08-06"), { row: row("gpt-4o"), match: "alias" });
    assert.deepEqual(lookupPrice(table, "claude-sonnet-4-5-20250929"), { row: row("claude-sonnet-4-5"), match: "alias" });
    assert.deepEqual(lookupPrice(table, "gpt-4o-mini-2099-01-01"), { row: row("gpt-4o-mini"), match: "dated" });
    assert.deepEqual(lookupPrice(table, "claude-opus-4-1-20991231"), { row: row("claude-opus-4-1"), match: "dated" });
    assert.deepEqual(lookupPrice(table, "claude-sonnet-4-5@20250929"), { row: row("claude-sonnet-4-5"), match: "dated" });
    assert.equal(lookupPrice(table, "GPT-4O")?.row.model, "gpt-4o", "ids ignore case");
    assert.equal(lookupPrice(table, "meta-llama/llama-3.3-70b-instruct-turbo")?.row.model, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
  });

  it("a snapshot with its own price is not its family's: gpt-4o-2024-05-13 is $5/$15", () => {
    const r = lookupPrice(table, "gpt-4o-2024-05-13")!;
    assert.equal(r.match, "exact");
    assert.equal(r.row.rates.input, 5);
    assert.equal(r.row.rates.output, 15);
  });

  it("falls back to the longest known prefix at a '-' boundary, and says it is a guess", () => {
    assert.deepEqual(lookupPrice(table, "gemini-2.5-pro-preview-06-05"), { row: row("gemini-2.5-pro"), match: "prefix" });
    assert.deepEqual(lookupPrice(table, "gemini-2.5-flash-lite-preview-06-17"), { row: row("gemini-2.5-flash-lite"), match: "prefix" });
    assert.deepEqual(lookupPrice(table, "gpt-4o-mini-search-preview"), { row: row("gpt-4o-mini"), match: "prefix" });
    // no boundary, no match: gpt-4 (the $30 model) is not gpt-4o, nor is o3x o3
    assert.equal(lookupPrice(table, "gpt-4"), undefined);
    assert.equal(lookupPrice(table, "gpt-4-turbo"), undefined);
    assert.equal(lookupPrice(table, "o3x"), undefined);
    assert.equal(lookupPrice(table, "llama-3.3-70b"), undefined);
  });

  it("filters by family when asked", () => {
    assert.equal(lookupPrice(table, "gpt-4o", "anthropic"), undefined);
    assert.equal(lookupPrice(table, "gpt-4o", "openai")?.row.model, "gpt-4o");
  });

  it("refuses a table where an id appears twice, or a row is malformed", () => {
    const r = { family: "openai", model: "m", aliases: [], input: 1, output: 2, source: "https://example.com/p", date: "2025-08" };
    assert.equal(parseTable({ about: "", models: [r] }).rows.length, 1);
    assert.throws(() => parseTable({ about: "", models: [r, { ...r, model: "other", aliases: ["M"] }] }), /"M" is already openai\/m/);
    assert.throws(() => parseTable({ about: "", models: [{ ...r, output: undefined }] }), /models\.0\.output/);
    assert.throws(() => parseTable({ about: "", models: [{ ...r, input: -1 }] }), /models\.0\.input/);
    assert.throws(() => parseTable({ about: "", models: [{ ...r, date: "today" }] }), /models\.0\.date/);
    assert.throws(() => parseTable({ about: "", models: [{ ...r, inptu: 1 }] }), /inptu/);
    assert.throws(() => parseTable({ about: "", models: [{ ...r, input: 0.0000000000001 }] }), /at most 12 decimals/);
  });
});
