import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InferdError } from "../../util/errors.js";
import { parseRetryAfter, redact, statusError, transportError, upstreamMessage, UpstreamStatusError } from "./upstream-errors.js";
import { RetryPolicy } from "./retry-policy.js";

const NOW = Date.parse("2030-06-01T12:00:00Z");
const T = { connectMs: 1, firstByteMs: 2, idleMs: 3 };

describe("upstream errors", () => {
  it("parses Retry-After as seconds, as an HTTP date, and OpenAI's retry-after-ms first", () => {
    assert.equal(parseRetryAfter({ "retry-after": "7" }, NOW), 7000);
    assert.equal(parseRetryAfter({ "retry-after": "1.5" }, NOW), 1500);
    assert.equal(parseRetryAfter({ "retry-after": new Date(NOW + 30_000).toUTCString() }, NOW), 30_000);
    assert.equal(parseRetryAfter({ "retry-after": new Date(NOW - 30_000).toUTCString() }, NOW), 0);
    assert.equal(parseRetryAfter({ "retry-after": "7", "retry-after-ms": "250" }, NOW), 250);
    assert.equal(parseRetryAfter({ "retry-after": "soon" }, NOW), undefined);
    assert.equal(parseRetryAfter({ "retry-after": "-3" }, NOW), undefined);
    assert.equal(parseRetryAfter({}, NOW), undefined);
  });

  it("extracts OpenAI-, Anthropic- and bare-shaped messages, on one line; nothing from other bodies", () => {
    assert.deepEqual(upstreamMessage('{"error":{"message":"bad\\n  thing","type":"invalid_request_error","code":null}}'), { message: "bad thing", code: "invalid_request_error" });
    assert.deepEqual(upstreamMessage('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'), { message: "Overloaded", code: "overloaded_error" });
    assert.deepEqual(upstreamMessage('{"message":"plain"}'), { message: "plain", code: undefined });
    assert.deepEqual(upstreamMessage("<html>502</html>"), {});
    assert.deepEqual(upstreamMessage('"just a string"'), { message: undefined, code: undefined });
    assert.equal(upstreamMessage(JSON.stringify({ error: { message: "x".repeat(2000) } })).message?.length, 503);
  });

  it("maps statuses: 429/5xx/408/409 retryable, 401/403 to 502, other 4xx through, 3xx to 502; x-should-retry overrides", () => {
    const map = (status: number, headers = {}) => {
      const e = statusError("lab", status, headers, "", NOW);
      return [e.details.status, e.details.retryable, e.details.code];
    };
    assert.deepEqual(map(429), [429, true, "upstream_rate_limited"]);
    assert.deepEqual(map(500), [502, true, "upstream_error"]);
    assert.deepEqual(map(529), [502, true, "upstream_error"]);
    assert.deepEqual(map(408), [502, true, "upstream_error"]);
    assert.deepEqual(map(409), [502, true, "upstream_error"]);
    assert.deepEqual(map(401), [502, false, "upstream_auth"]);
    assert.deepEqual(map(400), [400, false, "upstream_rejected"]);
    assert.deepEqual(map(302), [502, false, "upstream_error"]);
    assert.deepEqual(map(500, { "x-should-retry": "false" }), [502, false, "upstream_error"]);
    assert.deepEqual(map(400, { "x-should-retry": "true" }), [400, true, "upstream_rejected"]);
    const e = statusError("lab", 503, { "retry-after-ms": "1500" }, "", NOW);
    assert.ok(e instanceof UpstreamStatusError);
    assert.deepEqual([e.upstreamStatus, e.retryAfterMs, e.details.retryAfterSeconds], [503, 1500, 2]);
  });

  it("classifies transport errors by code, naming the timeout", () => {
    const err = (code: string, extra = {}) => Object.assign(new Error("x"), { code, ...extra });
    assert.equal(transportError("lab", err("UND_ERR_HEADERS_TIMEOUT"), "request", T).message, "lab: first-byte timeout (no response headers within 2 ms)");
    assert.equal(transportError("lab", err("UND_ERR_BODY_TIMEOUT"), "body", T).message, "lab: idle timeout (no response data for 3 ms)");
    assert.equal(transportError("lab", err("ECONNRESET"), "body", T).message, "lab: connection lost mid-response (ECONNRESET)");
    assert.equal(transportError("lab", err("EADDRNOTAVAIL", { syscall: "connect" }), "request", T).details.code, "upstream_unreachable");
    const tls = transportError("lab", err("DEPTH_ZERO_SELF_SIGNED_CERT"), "request", T);
    assert.deepEqual([tls.details.status, tls.details.retryable, tls.message], [502, false, "lab: request failed (DEPTH_ZERO_SELF_SIGNED_CERT)"]);
  });

  it("redacts the key from message, code and param, keeping the class", () => {
    const e = redact(new UpstreamStatusError("lab answered 400: k=SECRET", { status: 400, code: "SECRET" }, 400, undefined), "SECRET");
    assert.ok(e instanceof UpstreamStatusError);
    assert.deepEqual([e.message, e.details.code, e.details.status], ["lab answered 400: k=[redacted]", "[redacted]", 400]);
    const same = new InferdError("upstream", "clean");
    assert.equal(redact(same, "SECRET"), same);
  });
});

describe("RetryPolicy", () => {
  const retryable = new InferdError("upstream", "x", { retryable: true });
  it("full jitter within min(cap, base * 2^attempt); stops after max or on a non-retryable error", () => {
    const top = new RetryPolicy({ max: 5, baseMs: 100, capMs: 1000 }, () => 0.999999);
    assert.deepEqual([0, 1, 2, 3, 4].map((a) => top.delayAfter(retryable, a, Infinity)), [99, 199, 399, 799, 999]);
    assert.equal(top.delayAfter(retryable, 5, Infinity), undefined);
    assert.equal(new RetryPolicy({}, () => 0).delayAfter(retryable, 0, Infinity), 0);
    assert.equal(top.delayAfter(new InferdError("upstream", "x", { retryable: false }), 0, Infinity), undefined);
  });

  it("waits out a Retry-After up to maxRetryAfterMs, and never past the call's remaining time", () => {
    const p = new RetryPolicy({ maxRetryAfterMs: 5000 }, () => 0.5);
    const after = (ms: number) => new UpstreamStatusError("x", { retryable: true }, 429, ms);
    assert.equal(p.delayAfter(after(4000), 0, Infinity), 4000);
    assert.equal(p.delayAfter(after(10), 0, Infinity), 50, "the backoff when longer");
    assert.equal(p.delayAfter(after(5001), 0, Infinity), undefined);
    assert.equal(p.delayAfter(after(4000), 0, 3999), undefined);
  });

  it("rejects nonsense settings", () => {
    assert.throws(() => new RetryPolicy({ max: -1 }), /retries.max/);
  });
});
