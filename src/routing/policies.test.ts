import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProviderRequest } from "../providers/provider.js";
import { CheapestPolicy } from "./cheapest.js";
import { LearnedPolicy } from "./learned-policy.js";
import { describeDecision, promptTokens } from "./policy.js";
import { RulesPolicy } from "./rules.js";

const signal = new AbortController().signal;
function chat(text: string, extra: Partial<Omit<ProviderRequest, "model">> = {}): Omit<ProviderRequest, "model"> {
  return { id: "r", input: { kind: "chat", messages: [{ role: "user", content: text }] }, sampling: {}, n: 1, signal, ...extra };
}
const tool = { type: "function" as const, function: { name: "f", parameters: { type: "object" } } };

describe("rules", () => {
  const p = new RulesPolicy(
    [
      { when: { tag: ["hard"] }, model: "big" },
      { when: { tools: true }, model: "big" },
      { when: { jsonSchema: true, key: ["team-a"] }, model: "mid" },
      { when: { maxPromptTokens: 10 }, model: "small" },
    ],
    "mid",
  );
  it("takes the first rule whose conditions all hold, and says which", () => {
    assert.deepEqual(p.choose({ req: chat("hi"), tag: "hard" }), { policy: "rules", model: "big", reason: "rule 1: tag hard" });
    assert.equal(p.choose({ req: chat("hi", { tools: [tool] }) }).model, "big");
    // tools offered but switched off are no tools
    assert.equal(p.choose({ req: chat("hi", { tools: [tool], toolChoice: "none" }) }).model, "small");
    assert.equal(p.choose({ req: chat("hi") }).reason, "rule 4: prompt ~1 <= 10 tokens");
  });
  it("needs every condition of a rule", () => {
    const schema = { responseFormat: { type: "json_schema" as const, schema: { type: "object" } } };
    assert.equal(p.choose({ req: chat("x".repeat(400), schema), keyName: "team-a" }).model, "mid");
    assert.equal(p.choose({ req: chat("x".repeat(400), schema), keyName: "team-b" }).reason, "no rule held: default");
    assert.equal(p.choose({ req: chat("x".repeat(400)), keyName: "team-a" }).model, "mid");
  });
  it("estimates prompt tokens by length, token ids by count", () => {
    assert.equal(promptTokens(chat("abcdefgh")), 2);
    assert.equal(promptTokens({ ...chat(""), input: { kind: "prompt", prompt: [1, 2, 3] } }), 3);
    assert.equal(promptTokens(chat("")), 0);
  });
});

describe("cheapest that fits", () => {
  const p = new CheapestPolicy([
    { name: "tiny", contextWindow: 100, price: { input: 0.1, output: 0.2 }, lacks: ["tools"] },
    { name: "mid", contextWindow: 10_000, price: { input: 1, output: 2 } },
    { name: "local", contextWindow: 50_000 },
    { name: "big", contextWindow: 100_000, price: { input: 10, output: 30 } },
  ]);
  it("takes the cheapest candidate whose context and features fit", () => {
    assert.equal(p.choose({ req: chat("hi", { maxTokens: 50 }) }).model, "tiny");
    // 60 max_tokens + 1 prompt token fits 100, 100 does not
    assert.equal(p.choose({ req: chat("hi", { maxTokens: 100 }) }).model, "mid");
    assert.equal(p.choose({ req: chat("hi", { maxTokens: 50, tools: [tool] }) }).model, "mid");
  });
  it("puts unpriced candidates after priced ones, and refuses a request none fits", () => {
    assert.equal(p.choose({ req: chat("x".repeat(4 * 20_000), { maxTokens: 10 }) }).model, "big");
    assert.equal(p.choose({ req: chat("x".repeat(4 * 20_000), { maxTokens: 10 }) }).reason, "cheapest of 2 that fit (~$0.200)");
    assert.throws(() => p.choose({ req: chat("x".repeat(4 * 200_000)) }), /no candidate fits/);
    const onlyLocal = new CheapestPolicy([{ name: "big", contextWindow: 10, price: { input: 10, output: 30 } }, { name: "local" }]);
    assert.equal(onlyLocal.choose({ req: chat("x".repeat(400)) }).model, "local");
  });
});

describe("learned", () => {
  // a scorer that says a prompt needs the large model in proportion to its question marks
  const scorer = { score: (t: string) => Math.min(1, (t.match(/\?/g)?.length ?? 0) / 4) };
  const p = new LearnedPolicy(scorer, "small", "big", 0.5);
  it("sends a prompt to the large model at or above the threshold, with its score", () => {
    assert.deepEqual(p.choose({ req: chat("why? how?") }), { policy: "learned", model: "big", reason: "score 0.500 >= 0.5", confidence: 0.5 });
    assert.equal(p.choose({ req: chat("why?") }).model, "small");
  });
  it("describes decisions as one header-safe line", () => {
    const line = describeDecision({ policy: "cascade", model: "big", outcome: "escalated", confidence: 0.123456, reason: "q0.1 p 0.12 < 0.3 \u2014 \n" });
    assert.equal(line, "policy=cascade; model=big; outcome=escalated; confidence=0.1235; reason=q0.1 p 0.12 < 0.3 ? ?");
  });
});
