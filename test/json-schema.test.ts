/**
 * JSON schemas on the real stories260K model: what inferd accepts, the grammar enforces (every
 * sample validates, checked by ajv, which knows nothing of inferd's rewrites), and what it
 * cannot enforce is rejected up front, naming the keyword or the limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsPlugin from "ajv-formats";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { Engine, type GenerateParams } from "../src/index.js";
import { schemaGrammarStats } from "../src/backend/grammar.js";
import { LIMITS } from "../src/backend/json-schema.js";
import { toolCallGrammar, type ToolDefinition } from "../src/providers/local/tool-calls.js";
import { isInferdError } from "../src/util/errors.js";
import { needsShared, STORIES } from "./shared.js";

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: true, strictTypes: false, strictTuples: false }));

async function text(engine: Engine, prompt: string, params: GenerateParams): Promise<{ text: string; finish: string }> {
  let out = "";
  let finish = "";
  for await (const ev of engine.generate(prompt, params)) {
    if (ev.type === "delta") out += ev.text;
    else finish = ev.finishReason;
  }
  return { text: out, finish };
}

const closed = (properties: Record<string, unknown>) => ({ type: "object", properties, required: Object.keys(properties), additionalProperties: false });

/** Varied schemas the grammar must enforce in full. */
const accepted: Record<string, Record<string, unknown>> = {
  "nested objects": closed({ name: { type: "string", maxLength: 12 }, address: closed({ city: { type: "string", minLength: 1, maxLength: 10 }, zip: { type: "integer", minimum: 10000, maximum: 10999 } }) }),
  "array with minItems/maxItems": { type: "array", items: { enum: ["red", "green", "blue"] }, minItems: 2, maxItems: 4 },
  "mixed enum": { enum: ["a", 1, true, null, 2.5, "b c"] },
  "enum filtered by type": { type: "string", enum: ["x", "y", 3, null] },
  "const properties": { type: "object", properties: { version: { const: 2 }, kind: { const: "point" }, x: { type: "number" } } },
  "oneOf told apart by a const": {
    oneOf: [closed({ pet: { const: "cat" }, lives: { type: "integer", minimum: 1, maximum: 9 } }), closed({ pet: { const: "dog" }, good: { type: "boolean" } })],
  },
  "oneOf told apart by type": { oneOf: [{ type: "string", maxLength: 8 }, { type: "integer", minimum: 0, maximum: 50 }, { type: "boolean" }] },
  "overlapping anyOf": { anyOf: [{ type: "string", maxLength: 3 }, { type: "string", minLength: 2, maxLength: 6 }, { type: "integer", minimum: -5, maximum: 5 }] },
  "$defs and $ref": {
    type: "object",
    properties: { owner: { $ref: "#/$defs/person" }, friends: { type: "array", maxItems: 2, items: { $ref: "#/$defs/person" } } },
    required: ["owner", "friends"],
    $defs: { person: closed({ name: { type: "string", maxLength: 8 }, age: { type: "integer", minimum: 0, maximum: 120 } }) },
  },
  "recursive $ref": { $ref: "#/$defs/node", $defs: { node: closed({ v: { type: "integer", minimum: 0, maximum: 9 }, kids: { type: "array", maxItems: 2, items: { $ref: "#/$defs/node" } } }) } },
  "pydantic v1 style: definitions and allOf": { type: "object", properties: { color: { title: "Color", allOf: [{ $ref: "#/definitions/Color" }] } }, required: ["color"], definitions: { Color: { title: "Color", enum: ["red", "blue"], type: "string" } } },
  "string lengths": closed({ short: { type: "string", minLength: 2, maxLength: 4 }, exact: { type: "string", minLength: 3, maxLength: 3 }, none: { type: "string", maxLength: 0 } }),
  formats: closed({ d: { type: "string", format: "date" }, t: { type: "string", format: "time" }, dt: { type: "string", format: "date-time" } }),
  "small integer ranges": closed({ a: { type: "integer", minimum: 5, maximum: 9 }, b: { type: "integer", exclusiveMinimum: -3, exclusiveMaximum: 3 }, c: { type: "integer", minimum: 0, maximum: 100, multipleOf: 10 } }),
  "nullable types": closed({ n: { type: ["string", "null"], maxLength: 5 }, m: { type: ["integer", "null"], minimum: 0, maximum: 3 }, o: { anyOf: [{ type: "number" }, { type: "null" }] } }),
  "tuple with prefixItems": { type: "array", prefixItems: [{ type: "string", maxLength: 5 }, { type: "integer", minimum: 1, maximum: 3 }], items: false },
  "map with additionalProperties": { type: "object", additionalProperties: { type: "integer", minimum: 0, maximum: 9 }, maxProperties: 3 },
  "no type: inferred from keywords": { minLength: 1, maxLength: 4 },
  "annotations only": { title: "anything", description: "any JSON value", $comment: "ignored" },
};

/** Rejected schemas, and what the error must name. */
const deep = (n: number): Record<string, unknown> => (n === 0 ? { type: "null" } : { type: "array", items: deep(n - 1) });
const rejected: [string, Record<string, unknown>, RegExp][] = [
  ["an integer range too large to enumerate", { type: "integer", minimum: 0, maximum: 1e9 }, /"minimum".*"maximum".*1000000001 integers/],
  ["an integer bound on one side only", closed({ n: { type: "integer", minimum: 1 } }), /"minimum" at properties\.n.*unbounded/],
  ["bounds on a number", { type: "number", minimum: 0, maximum: 1 }, /"minimum" at the root cannot be enforced on type "number"/],
  ["pattern", closed({ name: { type: "string", pattern: "^[a-z]+$" } }), /unsupported JSON schema keyword "pattern" at properties\.name/],
  ["an unknown keyword", { type: "string", maxLenght: 3 }, /unsupported JSON schema keyword "maxLenght" at the root/],
  ["a dangling $ref", closed({ a: { $ref: "#/$defs/missing" } }), /"\$ref" "#\/\$defs\/missing" at properties\.a names no definition/],
  ["a non-local $ref", { $ref: "https://example.com/schema.json" }, /"\$ref" .* only local references/],
  ["a format the grammar cannot write", { type: "string", format: "email" }, /format "email"/],
  ["a oneOf whose alternatives overlap", { oneOf: [{ type: "integer" }, { type: "number" }] }, /"oneOf" at the root: alternatives 0 and 1 may both match/],
  ["required names a property not defined", { type: "object", properties: { a: { type: "string" } }, required: ["a", "b"] }, /"required" at the root names "b"/],
  ["uniqueItems", { type: "array", items: { type: "integer" }, uniqueItems: true }, /"uniqueItems"/],
  ["a recursion that never ends", { $ref: "#/$defs/n", $defs: { n: closed({ next: { $ref: "#/$defs/n" } }) } }, /cycle through \$defs\.n never ends/],
  ["maxLength over the limit", { type: "string", maxLength: 5000 }, new RegExp(`"maxLength" at the root is 5000: the limit is ${LIMITS.repeat}`)],
  [
    "alternatives that start alike, nested",
    { anyOf: Array.from({ length: 40 }, (_, i) => closed({ x: { $ref: "#/$defs/inner" }, y: { const: i } })), $defs: { inner: { anyOf: Array.from({ length: 40 }, (_, i) => closed({ z: { type: "integer" }, n: { const: i } })) } } },
    /too ambiguous.*1600 grammar states.*limit is 1000/,
  ],
  ["a 30,000-value enum", { enum: Array.from({ length: 30_000 }, (_, i) => `v${i}`) }, new RegExp(`too large: \\d+ bytes of JSON, the limit is ${LIMITS.bytes}`)],
  ["more enum values than the limit", { enum: Array.from({ length: 1500 }, (_, i) => i) }, new RegExp(`too many enum/const values .*the limit is ${LIMITS.literals}`)],
  ["too deep", deep(40), new RegExp(`nested too deep at items(\\.items)+: the limit is ${LIMITS.depth} levels`)],
  ["too big", { type: "string", description: "x".repeat(40_000) }, new RegExp(`too large: 40\\d\\d\\d bytes of JSON, the limit is ${LIMITS.bytes}`)],
];

describe("JSON schemas: enforced, rewritten or rejected", needsShared, () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 8, kvTierBytes: 0 });
  });
  after(async () => engine?.dispose());

  for (const [name, schema] of Object.entries(accepted)) {
    it(`${name}: every sample parses, validates and ends the generation`, async () => {
      const validate = ajv.compile(schema);
      const runs = await Promise.all(
        Array.from({ length: 6 }, (_, seed) => text(engine, "Once upon a time", { temperature: 1, seed, maxTokens: 400, grammar: { type: "json_schema", schema } })),
      );
      for (const r of runs) {
        assert.equal(r.finish, "stop", `ended by the grammar, not max tokens: ${r.text}`);
        assert.ok(validate(JSON.parse(r.text)), `${r.text}: ${JSON.stringify(validate.errors)}`);
      }
    });
  }

  it("tool calls (oneOf of const names) still work, and a bad parameter schema reports param tools", async () => {
    const tools: ToolDefinition[] = [
      { type: "function", function: { name: "get_weather", parameters: closed({ city: { type: "string", maxLength: 12 }, days: { type: "integer", minimum: 1, maximum: 7 } }) } },
      { type: "function", function: { name: "get_time", parameters: closed({ zone: { enum: ["UTC", "CET"] } }) } },
    ];
    const grammar = toolCallGrammar(tools, "required")!;
    assert.equal(grammar.type, "json_schema");
    const validate = ajv.compile(grammar.type === "json_schema" ? grammar.schema : {});
    for (const seed of [1, 2, 3, 4]) {
      const r = await text(engine, "", { temperature: 1, seed, maxTokens: 300, grammar });
      assert.equal(r.finish, "stop", r.text);
      const m = /^<tool_call>\n([\s\S]*)\n<\/tool_call>$/.exec(r.text);
      assert.ok(m, r.text);
      assert.ok(validate(JSON.parse(m[1]!)), `${m[1]}: ${JSON.stringify(validate.errors)}`);
    }
    const bad = toolCallGrammar([{ type: "function", function: { name: "f", parameters: closed({ q: { type: "string", pattern: "x" } }) } }], "required")!;
    await assert.rejects(text(engine, "", { grammar: bad }), (e) => isInferdError(e, "invalid_argument") && e.details.param === "tools" && /"pattern" at properties\.arguments\.properties\.q/.test(e.message));
  });

  for (const [name, schema, message] of rejected) {
    it(`rejected: ${name}`, async () => {
      const t0 = performance.now();
      await assert.rejects(engine.backend.compileGrammar({ type: "json_schema", schema }), (e) => {
        assert.ok(isInferdError(e, "invalid_argument"), String(e));
        assert.equal(e.details.param, "response_format");
        assert.match(e.message, message);
        return true;
      });
      // bounded before any work: the 30,000-value enum used to take 25 s (a loose bound, not a benchmark)
      assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
    });
  }

  it('regression: {"type":"integer","minimum":5,"maximum":9} only ever yields 5..9', async () => {
    const schema = { type: "integer", minimum: 5, maximum: 9 };
    const runs = await Promise.all(Array.from({ length: 16 }, (_, seed) => text(engine, "Once upon a time", { temperature: 1, seed, maxTokens: 20, grammar: { type: "json_schema", schema } })));
    for (const r of runs) {
      assert.equal(r.finish, "stop", r.text);
      assert.ok(["5", "6", "7", "8", "9"].includes(r.text), r.text);
    }
    // and the grammar itself: nothing outside the range can be written
    const g = await engine.backend.compileGrammar({ type: "json_schema", schema });
    for (const [s, ok] of [["5", true], ["9", true], ["4", false], ["10", false], ["993473", false], ["7.0", false]] as const) assert.equal(await grammarAccepts(g.source, s), ok, s);
  });

  it("dates exist, and string escapes are whole characters", async () => {
    const date = await engine.backend.compileGrammar({ type: "json_schema", schema: { type: "string", format: "date" } });
    for (const [s, ok] of [['"2024-01-31"', true], ['"2024-02-28"', true], ['"2024-02-30"', false], ['"2024-04-31"', false], ['"2024-13-01"', false]] as const) assert.equal(await grammarAccepts(date.source, s), ok, s);
    const str = await engine.backend.compileGrammar({ type: "json_schema", schema: { type: "string", minLength: 2, maxLength: 2 } });
    // a surrogate pair is one character to JSON Schema but two escapes: the grammar writes neither half
    for (const [s, ok] of [['"ab"', true], ['"\\u00e9b"', true], ['"\\ud83d\\ude00"', false], ['"a"', false]] as const) assert.equal(await grammarAccepts(str.source, s), ok, s);
  });

  it("the same schema again is served from the cache: the same GBNF, no conversion", async () => {
    const schema = { type: "object", properties: { cached: { enum: Array.from({ length: 900 }, (_, i) => `value ${i}`) } } };
    const first = await engine.backend.compileGrammar({ type: "json_schema", schema });
    const { converted, cached } = schemaGrammarStats;
    const again = await engine.backend.compileGrammar({ type: "json_schema", schema: structuredClone(schema), prefix: "<x>" });
    assert.equal(again.source.replace(/^root ::= .*\njson-body ::= /, "root ::= "), first.source);
    assert.deepEqual(schemaGrammarStats, { converted, cached: cached + 1 });
  });
});

let llamaForTests: ReturnType<typeof getLlama> | undefined;
/** Whether a GBNF grammar matches the whole of `s` (node-llama-cpp's internal text check). */
async function grammarAccepts(gbnf: string, s: string): Promise<boolean> {
  llamaForTests ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const grammar = await (await llamaForTests).createGrammar({ grammar: gbnf });
  return (grammar as unknown as { _testText(text: string): boolean })._testText(s);
}
