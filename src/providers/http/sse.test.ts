import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { isInferdError, type InferdError } from "../../util/errors.js";
import { fault, FaultUpstream, type FaultStep } from "./fault-upstream.js";
import { parseSse, type SseEvent } from "./sse.js";
import { Upstream } from "./upstream.js";

let up: FaultUpstream;
let u: Upstream;
const isDone = (e: SseEvent) => e.data === "[DONE]";

before(async () => {
  up = await FaultUpstream.start();
  u = new Upstream({ name: "lab", baseUrl: up.url, timeouts: { idleMs: 2000 }, retries: { max: 0 } });
});
after(async () => {
  await u.close();
  await up.close();
});
beforeEach(() => {
  up.requests.length = 0;
});

/** Streams one scripted answer; returns the events read and the error that ended them, if any. */
async function stream(step: FaultStep, isFinal?: (e: SseEvent) => boolean, via = u): Promise<{ events: SseEvent[]; error?: InferdError }> {
  up.script(step);
  const res = await via.post("/chat", {}, { signal: new AbortController().signal, stream: true });
  const events: SseEvent[] = [];
  try {
    for await (const e of res.sse({ isFinal })) events.push(e);
  } catch (e) {
    assert.ok(isInferdError(e), `expected an InferdError, got ${String(e)}`);
    return { events, error: e };
  }
  return { events };
}

async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<string | Uint8Array> {
  yield* parts;
}

describe("parseSse over a real stream", () => {
  it("yields events with their types and multi-line data, ending at the final event", async () => {
    const { events, error } = await stream(fault.sse([{ event: "message_start", data: '{"a":1}' }, { data: "line 1\nline 2" }]), isDone);
    assert.equal(error, undefined);
    assert.deepEqual(events, [{ event: "message_start", data: '{"a":1}' }, { data: "line 1\nline 2" }, { data: "[DONE]" }]);
  });

  it("reads the body past the final event, so the connection is reused", async () => {
    const fresh = new Upstream({ name: "lab", baseUrl: up.url }); // a pool of its own: no idle connection yet
    try {
      await stream(fault.sse([{ data: "1" }]), isDone, fresh);
      await new Promise((r) => setImmediate(r)); // undici frees the connection a tick after the body's end
      await stream(fault.sse([{ data: "2" }]), isDone, fresh);
      assert.equal(up.requests[0]?.connection, up.requests[1]?.connection);
    } finally {
      await fresh.close();
    }
  });

  it("a body that does not end after the final event still ends the stream, without error", async () => {
    const t0 = Date.now();
    const { events, error } = await stream({ kind: "raw", chunks: ["data: 1\n\n", "data: [DONE]\n\n"], end: "stall" }, isDone);
    assert.equal(error, undefined);
    assert.deepEqual(events.map((e) => e.data), ["1", "[DONE]"]);
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

  it("a clean end without the final event is an error when one is expected (a stream without [DONE])", async () => {
    const step = fault.sse([{ data: "1" }, { data: "2" }], { done: false });
    const cut = await stream(step, isDone);
    assert.deepEqual(cut.events.map((e) => e.data), ["1", "2"]);
    assert.equal(cut.error?.message, "lab: event stream ended before its final event");
    assert.deepEqual([cut.error?.details.status, cut.error?.details.retryable, cut.error?.details.code], [502, true, "upstream_bad_stream"]);
    // Without isFinal (a protocol with no final event), the same stream ends normally.
    assert.equal((await stream(step)).error, undefined);
  });

  it("a body that ends in the middle of a line or of an event is an error, never a silent end", async () => {
    const midLine = await stream({ kind: "raw", chunks: ['data: {"a":1}\n\n', 'data: {"b"'], end: "end" });
    assert.deepEqual(midLine.events, [{ data: '{"a":1}' }]);
    assert.equal(midLine.error?.message, "lab: event stream ended in the middle of a line");
    const midEvent = await stream({ kind: "raw", chunks: ["data: x\n"], end: "end" });
    assert.deepEqual(midEvent.events, []);
    assert.equal(midEvent.error?.message, "lab: event stream ended in the middle of an event");
  });

  it("a line that is no SSE field (an error page in a 200) is malformed", async () => {
    const { events, error } = await stream({ kind: "raw", chunks: ["data: ok\n\n", "<html>Bad gateway</html>\n\n"], end: "end" }, isDone);
    assert.deepEqual(events, [{ data: "ok" }]);
    assert.equal(error?.message, "lab: malformed event stream (a line that is no SSE field)");
    assert.equal(error?.details.retryable, false);
  });

  it("a connection reset mid-stream is an error after the events that arrived", async () => {
    const { events, error } = await stream({ kind: "raw", chunks: ["data: 1\n\n", "data: 2\n\n"], gapMs: 10, end: "reset" }, isDone);
    assert.deepEqual(events.map((e) => e.data), ["1", "2"]);
    assert.equal(error?.details.code, "upstream_unreachable");
    assert.match(error?.message ?? "", /^lab: connection lost mid-response \(/);
  });

  it("breaking out of the loop closes the body; the response cannot be read twice", async () => {
    up.script(fault.sse(Array.from({ length: 20 }, (_, i) => ({ data: String(i) })), { gapMs: 20 }));
    const res = await u.post("/chat", {}, { signal: new AbortController().signal, stream: true });
    for await (const e of res.sse()) if (e.data === "1") break;
    await assert.rejects(res.json(), /already read or discarded/);
  });
});

describe("parseSse on chunk boundaries", () => {
  it("joins lines and UTF-8 characters split across chunks, and CRLF line ends", async () => {
    const bytes = new TextEncoder().encode("data: héllo 🌍\r\n\r\n");
    const parts = [bytes.slice(0, 9), bytes.slice(9, 15), bytes.slice(15)];
    const out: SseEvent[] = [];
    for await (const e of parseSse(chunks("event: a\n", "data: x", "\n", "\n", ...parts), { name: "t" })) out.push(e);
    assert.deepEqual(out, [{ event: "a", data: "x" }, { data: "héllo 🌍" }]);
  });

  it("bounds what it buffers", async () => {
    const go = async () => {
      for await (const _ of parseSse(chunks("data: " + "x".repeat(100)), { name: "t", maxEventChars: 50 }));
    };
    await assert.rejects(go(), /malformed event stream \(an event larger than the limit\)/);
  });

  it("ignores comments (keep-alive pings) and invalid retry fields", async () => {
    const out: SseEvent[] = [];
    for await (const e of parseSse(chunks(": ping\n\n", "retry: soon\n", "data: a\n\n"), { name: "t" })) out.push(e);
    assert.deepEqual(out, [{ data: "a" }]);
  });
});
