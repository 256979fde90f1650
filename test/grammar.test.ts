/**
 * Grammar-constrained sampling on the real stories260K model: whatever the model would rather
 * say, the output follows the grammar.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import { Engine, type GenerateParams } from "../src/index.js";
import { isInferdError } from "../src/util/errors.js";
import { needsShared, STORIES } from "./shared.js";

async function text(engine: Engine, prompt: string, params: GenerateParams): Promise<{ text: string; finish: string }> {
  let out = "";
  let finish = "";
  for await (const ev of engine.generate(prompt, params)) {
    if (ev.type === "delta") out += ev.text;
    else finish = ev.finishReason;
  }
  return { text: out, finish };
}

describe("grammar-constrained sampling", needsShared, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 8 });
  });
  after(async () => engine?.dispose());

  const schema = {
    type: "object",
    properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer" }, size: { type: "number" }, pet: { enum: ["cat", "dog"] } },
    required: ["name", "age", "size", "pet"],
    additionalProperties: false,
  };

  it("JSON schema: every sample parses and validates, concurrently, and ends the generation", async () => {
    const validate = new Ajv().compile(schema);
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, seed) => text(engine, "Once upon a time", { temperature: 1, seed, maxTokens: 120, grammar: { type: "json_schema", schema } })),
    );
    for (const r of runs) {
      assert.equal(r.finish, "stop", `ended by the grammar, not max tokens: ${r.text}`);
      assert.ok(validate(JSON.parse(r.text)), `${r.text}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it("integers never carry an exponent (it could overflow to Infinity)", async () => {
    const g = await engine.backend.compileGrammar({ type: "json_schema", schema: { type: "object", properties: { n: { type: "integer" }, x: { type: "number" } } } });
    const integerRule = /^integer-number-rule ::= (.*)$/m.exec(g.source)![1]!;
    assert.doesNotMatch(integerRule, /eE/);
    assert.match(g.source, /^fractional-number-rule ::= .*\[0-9\]\{1,2\}\)\?$/m);
  });

  it("a prefix and suffix wrap the JSON (the form tool calls take)", async () => {
    const r = await text(engine, "", { temperature: 0.7, seed: 4, maxTokens: 120, grammar: { type: "json_schema", schema, prefix: "<call>", suffix: "</call>" } });
    const m = /^<call>([\s\S]*)<\/call>$/.exec(r.text);
    assert.ok(m, r.text);
    JSON.parse(m[1]!);
  });

  it("GBNF grammars, and a bad grammar is the request's error", async () => {
    const r = await text(engine, "Once upon a time", { temperature: 0, maxTokens: 20, grammar: { type: "gbnf", grammar: 'root ::= (" yes" | " no") "."' } });
    assert.match(r.text, /^ (yes|no)\.$/);
    await assert.rejects(text(engine, "x", { grammar: { type: "gbnf", grammar: "root ::= undefined-rule" } }), (e) => isInferdError(e, "invalid_argument") && /grammar/.test(e.message));
  });
});
