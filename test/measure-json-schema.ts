/**
 * Not a test: measures what the worst schemas json-schema.ts accepts cost to compile, to choose
 * and check its LIMITS (timed unit tests would be flaky on a shared machine). Run alone:
 *
 *   npx tsc -p . && node dist/test/measure-json-schema.js
 *
 * For each schema: a cold compileGrammar (check, convert, parse the GBNF, make the evaluation
 * state sequences clone), the same schema again (cached), and 20 sampled tokens (the cost of
 * live grammar states, which LIMITS.liveStates bounds).
 */
import { Engine, isInferdError } from "../src/index.js";
import { LIMITS } from "../src/backend/json-schema.js";
import { STORIES } from "./shared.js";

const word = (i: number, len: number): string => `v${i}-`.padEnd(len, "x");
const obj = (properties: Record<string, unknown>) => ({ type: "object", properties, required: Object.keys(properties), additionalProperties: false });
const deep = (levels: number): Record<string, unknown> => (levels === 0 ? { type: "integer" } : obj({ a: deep(levels - 1), b: { type: "boolean" } }));

/** Definitions d0 -> d1 -> ... each holding the next (chains nest: the depth limit bounds them). */
const chain = (n: number): Record<string, unknown> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i}`, i === n - 1 ? { type: "null" } : { type: "array", prefixItems: [{ $ref: `#/$defs/d${i + 1}` }] }]));

/** Each within LIMITS, each maxing one or more of them. */
const cases: Record<string, Record<string, unknown>> = {
  [`enum of ${LIMITS.literals} strings`]: { enum: Array.from({ length: LIMITS.literals }, (_, i) => word(i, 24)) },
  [`integer range of ${LIMITS.literals}`]: { type: "integer", minimum: -500, maximum: LIMITS.literals - 501 },
  [`${LIMITS.properties} properties`]: obj(Object.fromEntries(Array.from({ length: LIMITS.properties }, (_, i) => [`p${i}`, { type: "string", maxLength: LIMITS.repeatTotal / LIMITS.properties }]))),
  [`${LIMITS.repeatTotal / LIMITS.repeat} strings of maxLength ${LIMITS.repeat}`]: obj(Object.fromEntries(Array.from({ length: LIMITS.repeatTotal / LIMITS.repeat }, (_, i) => [`s${i}`, { type: "string", minLength: i, maxLength: LIMITS.repeat }]))),
  [`nested arrays, maxItems ${LIMITS.repeat}`]: { type: "array", maxItems: LIMITS.repeat, items: { type: "array", minItems: 500, maxItems: LIMITS.repeat, items: { type: "integer" } } },
  [`oneOf of ${LIMITS.alternatives} tagged objects`]: { oneOf: Array.from({ length: LIMITS.alternatives }, (_, i) => obj({ kind: { const: `k${i}` }, v: { type: "integer" }, w: { enum: [i, i + 1, i + 2] } })) },
  [`depth ${LIMITS.depth}`]: deep(LIMITS.depth / 2 - 1),
  [`mixed, ~${LIMITS.bytes / 1024} KiB`]: {
    type: "object",
    properties: {
      ...Object.fromEntries(Array.from({ length: 240 }, (_, i) => [`s${i}`, { type: ["string", "null"], maxLength: 20 }])),
      ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`e${i}`, { enum: Array.from({ length: 100 }, (_, j) => word(j, 6)) }])),
      r: { type: "integer", minimum: 0, maximum: 99 },
      d: deep(12),
      t: { $ref: "#/$defs/tree" },
      u: { oneOf: Array.from({ length: 60 }, (_, i) => obj({ kind: { const: `k${i}` }, when: { type: "string", format: "date-time" } })) },
    },
    $defs: { tree: obj({ label: { type: "string", maxLength: 50 }, kids: { type: "array", maxItems: 3, items: { $ref: "#/$defs/tree" } } }) },
  },
  [`a chain of ${LIMITS.depth / 2 - 1} $defs`]: {
    $ref: "#/$defs/d0",
    $defs: chain(LIMITS.depth / 2 - 1),
  },
  // sampling cost, not compile cost: alternatives that share their start keep many grammar stacks alive
  // rejected (over LIMITS.liveStates), to show they are: before that check 100 x 100 sampled 20 tokens in ~5 s
  ...Object.fromEntries([100, 32, 16].map((n) => [`ambiguous: anyOf ${n} x shared anyOf ${n}`, {
    anyOf: Array.from({ length: n }, (_, i) => obj({ x: { $ref: "#/$defs/inner" }, y: { const: i } })),
    $defs: { inner: { anyOf: Array.from({ length: n }, (_, i) => obj({ z: { type: "integer" }, n: { const: i } })) } },
  }])),
  "enum of 1000 strings sharing 20 characters": { enum: Array.from({ length: 1000 }, (_, i) => `${"x".repeat(20)}${i}`) },
  "anyOf 1000 objects sharing a key": { anyOf: Array.from({ length: 125 }, (_, i) => ({ type: "object", properties: { a: { type: "string" }, b: { enum: [i * 8, i * 8 + 1, i * 8 + 2, i * 8 + 3, i * 8 + 4, i * 8 + 5, i * 8 + 6, i * 8 + 7] } } })) },
};

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(1)} ms`;
const engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, kvTierBytes: 0 });
try {
  let run = 0;
  for (const [name, schema] of Object.entries(cases)) {
    const bytes = Buffer.byteLength(JSON.stringify(schema));
    const cold: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        // a different title each time: a cache miss with the same work
        const t0 = performance.now();
        await engine.backend.compileGrammar({ type: "json_schema", schema: { ...schema, title: `run ${run++}` } });
        cold.push(performance.now() - t0);
      }
    } catch (e) {
      if (!isInferdError(e, "invalid_argument")) throw e;
      console.log(`${name.padEnd(46)} ${String(bytes).padStart(6)} B  rejected: ${e.message}`);
      continue;
    }
    const spec = { type: "json_schema", schema: { ...schema, title: `run ${run - 1}` } } as const;
    let t0 = performance.now();
    await engine.backend.compileGrammar(spec);
    const cached = ms(t0);
    t0 = performance.now();
    let tokens = 0;
    for await (const ev of engine.generate("Once upon a time", { temperature: 1, seed: 1, maxTokens: 20, grammar: spec })) if (ev.type === "delta") tokens += ev.tokens.length;
    const sampled = ms(t0);
    cold.sort((a, b) => a - b);
    console.log(`${name.padEnd(46)} ${String(bytes).padStart(6)} B  compile ${cold[1]!.toFixed(1)} ms (median of 3)  cached ${cached}  ${tokens} tokens ${sampled}`);
  }
} finally {
  await engine.dispose();
}
