import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { usageTokens } from "../ledger/row.js";
import { priceBook } from "../pricing/price-book.js";
import { priceTable } from "../pricing/table.js";
import type { Usage } from "../providers/provider.js";
import { emptyUsage } from "../providers/usage.js";

describe("an escalated cascade's books", () => {
  // small: $1 / $2 per 1M tokens; big: $10 / $30
  const book = priceBook(
    [
      { name: "small", provider: "up", model: "s", price: { input: 1, output: 2 } },
      { name: "big", provider: "up", model: "b", price: { input: 10, output: 30 } },
      { name: "free-form", provider: "up", model: "unpriced-model-x" },
    ],
    priceTable(),
  );
  const small: Usage = { ...emptyUsage("up", "s"), inputTokens: 1000, outputTokens: 500 };
  const big: Usage = { ...emptyUsage("up", "b"), inputTokens: 1000, outputTokens: 200, prior: [small] };

  it("prices both calls, each at its own model's rates, to the micro-dollar", () => {
    // small 1000 x $1 + 500 x $2 = $0.002; big 1000 x $10 + 200 x $30 = $0.016
    const c = book.cost(big);
    assert.equal(c.usdExact, "0.018");
    assert.equal(c.usd, 0.018);
    assert.equal(book.cost({ ...big, prior: undefined }).usdExact, "0.016");
  });
  it("counts every token paid for in the ledger row", () => {
    assert.deepEqual(usageTokens(big), { inputTokens: 2000, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 700, reasoningTokens: 0 });
  });
  it("is unknown, never a partial sum, when one call is unpriced", () => {
    const c = book.cost({ ...big, prior: [{ ...small, model: "unpriced-model-x" }] });
    assert.equal(c.usd, null);
    assert.ok(c.warnings.some((w) => w.includes("prior call")));
  });
});
