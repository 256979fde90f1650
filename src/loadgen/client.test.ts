import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { requestBody, SseParser } from "./client.js";

describe("SseParser", () => {
  test("events split across reads, several per read, CRLF, comments, multi-line data", () => {
    const p = new SseParser();
    assert.deepEqual(p.push('data: {"a"'), []);
    assert.deepEqual(p.push(':1}\n'), []);
    assert.deepEqual(p.push("\ndata: two\n\n: keep-alive\n\ndata:three\r\n\r\n"), ['{"a":1}', "two", "three"]);
    assert.deepEqual(p.push("event: x\nid: 4\ndata: l1\ndata: l2\n\n"), ["l1\nl2"]);
    assert.deepEqual(p.push("data: [DONE]"), []);
    assert.deepEqual(p.end(), ["[DONE]"]);
    assert.deepEqual(p.end(), []);
  });
});

describe("requestBody", () => {
  const spec = { url: new URL("http://x/v1/completions"), model: "m", prompt: "the of", maxTokens: 9 };
  test("completions: streamed with usage, greedy, ignore_eos, max_tokens = output length", () => {
    assert.deepEqual(requestBody({ ...spec, endpoint: "/v1/completions" }), {
      model: "m", prompt: "the of", max_tokens: 9, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    });
  });
  test("chat: the prompt is one user message", () => {
    const b = requestBody({ ...spec, endpoint: "/v1/chat/completions" });
    assert.deepEqual(b.messages, [{ role: "user", content: "the of" }]);
    assert.equal(b.prompt, undefined);
    assert.equal(b.stream, true);
  });
});
