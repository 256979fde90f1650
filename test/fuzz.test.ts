/**
 * Property-based fuzzing of every route (fast-check): bodies that are valid, valid with one
 * field replaced by anything, valid with one field removed, any JSON value, and text that is
 * not JSON. Whatever comes, the answer is a 2xx or a 4xx in the route's protocol shape, never
 * a 5xx, never a stack trace or a file path; and afterwards the server is healthy and correct.
 * Bounded in count (FUZZ_RUNS, default 60 per route) and replayable (FUZZ_SEED).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { Engine } from "../src/index.js";
import { startApp, type Json } from "./app-server.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

const text = fc.string({ maxLength: 24, unit: "grapheme" });
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const sampling = {
  temperature: optional(fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: optional(fc.double({ min: 0.01, max: 1, noNaN: true })),
  n: optional(fc.integer({ min: 1, max: 2 })),
  stream: fc.boolean(),
  seed: optional(fc.integer({ min: 0, max: 2 ** 31 })),
  stop: optional(fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 2 })),
  frequency_penalty: optional(fc.double({ min: -2, max: 2, noNaN: true })),
  logit_bias: optional(fc.dictionary(fc.integer({ min: 0, max: 511 }).map(String), fc.integer({ min: -100, max: 100 }), { maxKeys: 3 })),
};

const chatBody = fc.record({
  model: fc.constant("chat"),
  messages: fc.array(fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: text }), { minLength: 1, maxLength: 3 }),
  max_tokens: fc.integer({ min: 1, max: 4 }),
  logprobs: optional(fc.boolean()),
  top_logprobs: optional(fc.integer({ min: 0, max: 5 })),
  response_format: optional(fc.constantFrom({ type: "text" }, { type: "json_object" })),
  ...sampling,
});

const completionBody = fc.record({
  model: fc.constant("stories260K"),
  prompt: fc.oneof(text, fc.array(fc.integer({ min: 0, max: 511 }), { minLength: 1, maxLength: 8 })),
  max_tokens: fc.integer({ min: 1, max: 16 }),
  echo: optional(fc.boolean()),
  logprobs: optional(fc.integer({ min: 0, max: 5 })),
  ...sampling,
});

const embeddingBody = fc.record({
  model: fc.constant("stories260K"),
  input: fc.oneof(fc.string({ minLength: 1, maxLength: 24 }), fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 })),
  encoding_format: optional(fc.constantFrom("float", "base64")),
});

const messagesBody = fc.record({
  model: fc.constant("chat"),
  max_tokens: fc.integer({ min: 1, max: 4 }),
  messages: fc.array(fc.record({ role: fc.constantFrom("user", "assistant"), content: fc.oneof(text, fc.array(fc.record({ type: fc.constant("text"), text }), { minLength: 1, maxLength: 2 })) }), { minLength: 1, maxLength: 3 }),
  system: optional(text),
  temperature: optional(fc.double({ min: 0, max: 1, noNaN: true })),
  stop_sequences: optional(fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 2 })),
  stream: fc.boolean(),
});

/** Valid bodies, and every way of breaking them. */
function bodies(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  const json = (v: unknown) => JSON.stringify(v) ?? "";
  const replaced = valid.chain((b) => fc.tuple(fc.constantFrom(...Object.keys(b)), fc.anything({ maxDepth: 3 })).map(([k, v]) => ({ ...b, [k]: v })));
  const removed = valid.chain((b) => fc.constantFrom(...Object.keys(b)).map((k) => Object.fromEntries(Object.entries(b).filter(([key]) => key !== k))));
  return fc.oneof(
    { arbitrary: valid.map(json), weight: 3 },
    { arbitrary: replaced.map(json), weight: 4 },
    { arbitrary: removed.map(json), weight: 2 },
    { arbitrary: fc.anything({ maxDepth: 3 }).map(json), weight: 1 },
    { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  );
}

/** What no response body may hold: stack frames, file paths. */
const LEAK = /\bat [\w.<>]+ \(|\.(js|ts):\d+|\/work\/|node_modules|file:\/\//;

describe("fuzz: every route, valid and hostile bodies", needsShared, () => {
  let s: Awaited<ReturnType<typeof startApp>>;
  const seen = { ok: 0, client: 0, timedOut: 0 };
  before(async () => {
    const stories = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 4, kvTierBytes: 0 });
    // a small context bounds the longest generation a fuzzed body can ask for
    const chat = await Engine.load({ model: "synthetic:smollm2-135m-q4_0", threads: 1, maxSequences: 2, contextSize: 128, kvTierBytes: 0 });
    s = await startApp(new Map([["stories260K", stories], ["chat", chat]]), { maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    process.stderr.write(`fuzz outcomes: ${JSON.stringify(seen)}\n`);
    await s?.close();
  });

  const routes: [string, fc.Arbitrary<Record<string, unknown>>][] = [
    ["/v1/chat/completions", chatBody],
    ["/v1/completions", completionBody],
    ["/v1/embeddings", embeddingBody],
    ["/v1/messages", messagesBody],
    ["/v1/messages/count_tokens", messagesBody],
  ];
  for (const [path, valid] of routes) {
    it(`${path}: a 2xx or a 4xx in the protocol's shape, never a 5xx or a leak`, async () => {
      const anthropic = path.startsWith("/v1/messages");
      await fc.assert(
        fc.asyncProperty(bodies(valid), async (body) => {
          let res: Response;
          let out: string;
          try {
            res = await fetch(`${s.base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(8000) });
            out = await res.text();
          } catch (e) {
            // a legitimately long generation (max_tokens: null) is not a failure; anything else is
            if ((e as Error).name !== "TimeoutError") throw e;
            seen.timedOut++;
            return;
          }
          assert.ok(res.status < 500, `${res.status} for ${body.slice(0, 300)}: ${out.slice(0, 300)}`);
          assert.doesNotMatch(out, LEAK, `a leak for ${body.slice(0, 200)}`);
          if (res.status >= 400) {
            seen.client++;
            const e = JSON.parse(out) as Json;
            if (anthropic) {
              assert.equal(e.type, "error");
              assert.equal(typeof e.error.type, "string");
              assert.equal(typeof e.error.message, "string");
            } else {
              assert.equal(typeof e.error.message, "string");
              assert.equal(typeof e.error.type, "string");
              assert.ok("param" in e.error && "code" in e.error);
            }
            return;
          }
          seen.ok++;
          if (res.headers.get("content-type")?.includes("text/event-stream")) {
            if (anthropic) assert.match(out, /event: (message_stop|error)\n/);
            else assert.match(out, /data: \[DONE\]\n\n$/);
          } else JSON.parse(out);
        }),
        { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
      );
    });
  }

  it("afterwards: healthy, idle, and greedy output is still the reference", async () => {
    assert.equal((await fetch(`${s.base}/health`)).status, 200);
    for (let i = 0; i < 500 && (await s.metric("inferd:num_requests_running")) + (await s.metric("inferd:num_requests_waiting")) > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await s.metric("inferd:num_requests_running"), 0);
    const r = await s.post("/v1/completions", { model: "stories260K", prompt: "", max_tokens: 200, temperature: 0 });
    assert.equal((await r.json()).choices[0].text, storiesReference());
  });
});
