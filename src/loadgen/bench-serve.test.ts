import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBenchServe, type BenchServeOptions } from "./bench-serve.js";
import { benchCommand } from "../cli/bench.js";
import { isInferdError } from "../util/errors.js";

// The fake server: per request, an empty chunk at once (not a token), then CHUNKS chunks of two
// characters, the first after TTFT ms and the others ITL ms apart, then usage and [DONE].
const TTFT = 60;
const ITL = 30;
const CHUNKS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: Server;
let base: string;
let inFlight = 0;
let peak = 0;
let received: any[] = [];
let failWhen: (n: number) => "http" | "event" | undefined = () => undefined;

before(async () => {
  server = createServer(async (req, res) => {
    let raw = "";
    for await (const c of req) raw += c;
    const body = JSON.parse(raw);
    received.push({ path: req.url, auth: req.headers.authorization, body });
    const fail = failWhen(received.length);
    if (fail === "http") {
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "boom" } }));
      return;
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.on("close", () => inFlight--);
    const chat = req.url === "/v1/chat/completions";
    const chunk = (text: string) => ({ choices: [chat ? { index: 0, delta: text === "" ? { role: "assistant" } : { content: text } } : { index: 0, text }] });
    const send = (obj: unknown) => res.write(`data: ${typeof obj === "string" ? obj : JSON.stringify(obj)}\n\n`);
    res.writeHead(200, { "content-type": "text/event-stream" });
    send(chunk(""));
    await sleep(TTFT);
    for (let i = 0; i < CHUNKS; i++) {
      if (i > 0) await sleep(ITL);
      if (fail === "event" && i === 2) {
        send({ error: { message: "engine fell over" } });
        return void res.end();
      }
      send(chunk("ab"));
    }
    const prompt: string = chat ? body.messages[0].content : body.prompt;
    // usage deliberately differs from both the chunk count and the word count, to show where counts come from
    send({ choices: [], usage: { prompt_tokens: prompt.split(" ").length + 3, completion_tokens: CHUNKS * 2 } });
    send("[DONE]");
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function opts(o: Partial<BenchServeOptions>): BenchServeOptions {
  received = [];
  peak = 0;
  failWhen = () => undefined;
  return {
    baseUrl: base, endpoint: "/v1/completions", model: "fake", dataset: "random", numPrompts: 4, randomInputLen: 5, randomOutputLen: 8,
    prefixLen: 6, numPrefixes: 2, suffixLen: 3, seed: 1, requestRate: Infinity, maxConcurrency: Infinity, initialTest: false, ...o,
  };
}

describe("bench serve against a fake OpenAI server", () => {
  test("timings match the server's delays; token counts come from usage; the request is what vLLM sends", async () => {
    const o = opts({ apiKey: "k1" });
    const { metrics: m, results } = await runBenchServe(o);
    assert.equal(m.completed, 4);
    assert.equal(m.failed, 0);
    for (const r of results) {
      assert.ok(r.ok, r.error);
      assert.ok(r.ttftMs >= TTFT - 2 && r.ttftMs < TTFT + 1000, `ttft ${r.ttftMs}`); // the empty chunk at 0 is not the first token
      assert.equal(r.itlMs.length, CHUNKS - 1);
      const meanItl = r.itlMs.reduce((a, b) => a + b, 0) / r.itlMs.length;
      assert.ok(meanItl >= ITL - 5 && meanItl < ITL + 500, `itl ${r.itlMs}`);
      assert.ok(r.e2elMs >= r.ttftMs + (CHUNKS - 1) * (ITL - 2), `e2el ${r.e2elMs}`);
      assert.equal(r.outputTokens, CHUNKS * 2);
      assert.equal(r.promptTokens, 5 + 3);
      assert.ok(Math.abs(r.tpotMs - (r.e2elMs - r.ttftMs) / (CHUNKS * 2 - 1)) < 1e-9);
      assert.equal(r.generatedText, "ab".repeat(CHUNKS));
    }
    assert.equal(m.totalOutputTokens, 4 * 8);
    assert.equal(m.totalInputTokens, 4 * 8);
    assert.ok(m.ttft.mean >= TTFT - 2);
    assert.equal(received.length, 4);
    for (const r of received) {
      assert.equal(r.path, "/v1/completions");
      assert.equal(r.auth, "Bearer k1");
      assert.deepEqual(r.body.stream_options, { include_usage: true });
      assert.equal(r.body.max_tokens, 8);
      assert.equal(r.body.ignore_eos, true);
      assert.equal(r.body.prompt.split(" ").length, 5);
    }
    assert.equal(peak, 4); // rate inf, no cap: all at once
  });

  test("--max-concurrency caps requests in flight at the server", async () => {
    const { metrics } = await runBenchServe(opts({ numPrompts: 8, maxConcurrency: 2, endpoint: "/v1/chat/completions", dataset: "prefix-repetition" }));
    assert.equal(metrics.completed, 8);
    assert.equal(peak, 2);
    assert.ok(received.every((r) => r.path === "/v1/chat/completions" && r.body.messages[0].content.split(" ").length === 9));
    assert.equal(new Set(received.map((r) => r.body.messages[0].content.split(" ").slice(0, 6).join(" "))).size, 2);
  });

  test("an HTTP 500 and a mid-stream error event are failed requests with their errors", async () => {
    const o = opts({ numPrompts: 5 });
    failWhen = (n) => (n === 2 ? "http" : n === 4 ? "event" : undefined);
    const { metrics: m, results } = await runBenchServe(o);
    assert.equal(m.completed, 3);
    assert.equal(m.failed, 2);
    assert.deepEqual(m.errors.map((e) => e.error).sort(), ['HTTP 500: {"error":{"message":"boom"}}', "error event: engine fell over"]);
    assert.equal(m.totalOutputTokens, 3 * 8); // failures count no tokens
    assert.equal(results.filter((r) => !r.ok).length, 2);
  });

  test("a failing initial test request stops the run before timing; a dead port is a failure with a message", async () => {
    const o = opts({ initialTest: true });
    failWhen = () => "http";
    await assert.rejects(runBenchServe(o), (e) => isInferdError(e, "invalid_argument") && /initial test request .* failed: HTTP 500.*boom/.test(e.message));
    assert.equal(received.length, 1);
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const { metrics } = await runBenchServe({ ...opts({ numPrompts: 2 }), baseUrl: `http://127.0.0.1:${port}` });
    assert.equal(metrics.failed, 2);
    assert.match(metrics.errors[0]!.error, /ECONNREFUSED/);
  });

  test("inferd bench serve prints the table and writes vLLM-style JSON", async () => {
    const dir = await mkdtemp(join(tmpdir(), "inferd-bench-"));
    const file = join(dir, "out.json");
    let stdout = "";
    const [w1, w2] = [process.stdout.write, process.stderr.write];
    process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    let code: number;
    try {
      opts({});
      code = await benchCommand(["serve", "--url", `${base}/v1/`, "--model", "fake", "--num-prompts", "3", "--random-input-len", "4", "--random-output-len", "8", "--goodput", "ttft:100000", "--json", file]);
    } finally {
      [process.stdout.write, process.stderr.write] = [w1, w2];
    }
    assert.equal(code, 0);
    assert.match(stdout, /Successful requests: +3\n/);
    assert.match(stdout, /Request goodput \(req\/s\):/);
    const j = JSON.parse(await readFile(file, "utf8"));
    assert.equal(received.length, 4); // the untimed initial test, then 3
    assert.equal(j.completed, 3);
    assert.equal(j.total_output_tokens, 24);
    assert.equal(j.request_rate, "inf");
    assert.ok(j.mean_ttft_ms >= TTFT - 2 && j.p99_itl_ms > 0);
    assert.equal(j.ttfts.length, 3);
    assert.ok(j.ttfts[0] < 10); // seconds, as vLLM
    assert.deepEqual(j.errors, ["", "", ""]);
    await rm(dir, { recursive: true });
  });
});
