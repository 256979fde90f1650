import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { isInferdError, type InferdError } from "../../util/errors.js";
import { fault, FaultUpstream, startSilentServer } from "./fault-upstream.js";
import { Upstream, type UpstreamDeps, type UpstreamOptions } from "./upstream.js";
import { UpstreamStatusError } from "./upstream-errors.js";

let up: FaultUpstream;
const open: Upstream[] = [];

before(async () => {
  up = await FaultUpstream.start();
});
after(async () => {
  await Promise.all(open.map((u) => u.close()));
  await up.close();
});
beforeEach(() => {
  up.requests.length = 0;
  assert.equal(up.pending, 0, "a previous test left steps unused");
});

/** Sleeps recorded, not waited: retries run at once and the test sees each delay. */
function recordingSleep(): { delays: number[]; sleep: NonNullable<UpstreamDeps["sleep"]> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

function upstream(opts: Partial<UpstreamOptions> = {}, deps: UpstreamDeps = {}): Upstream {
  const u = new Upstream({ name: "lab", baseUrl: `${up.url}/v1`, apiKey: "test-key", ...opts }, deps);
  open.push(u);
  return u;
}

const signal = () => new AbortController().signal;

async function failure(p: Promise<unknown>): Promise<InferdError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isInferdError(e), `expected an InferdError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

describe("Upstream: requests", () => {
  it("POSTs JSON with the auth, default and per-request headers, under the base URL's path", async () => {
    up.script(fault.ok({ id: "x" }));
    const u = upstream({ headers: { "anthropic-version": "2023-06-01" } });
    const res = await u.post("/chat/completions", { model: "m" }, { signal: signal(), headers: { "x-request-id": "r1" } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: "x" });
    const [req] = up.requests;
    assert.equal(req?.method, "POST");
    assert.equal(req?.path, "/v1/chat/completions");
    assert.equal(req?.headers.authorization, "Bearer test-key");
    assert.equal(req?.headers["content-type"], "application/json");
    assert.equal(req?.headers.accept, "application/json");
    assert.equal(req?.headers["anthropic-version"], "2023-06-01");
    assert.equal(req?.headers["x-request-id"], "r1");
    assert.deepEqual(up.bodies(), [{ model: "m" }]);
  });

  it("sends the key in a header of its own when told (Anthropic's x-api-key), and none without a key", async () => {
    up.script(fault.ok(), fault.ok());
    await (await upstream({ auth: { header: "X-Api-Key" } }).post("/messages", {}, { signal: signal(), stream: true })).json();
    await (await upstream({ apiKey: undefined }).post("/messages", {}, { signal: signal() })).json();
    assert.equal(up.requests[0]?.headers["x-api-key"], "test-key");
    assert.equal(up.requests[0]?.headers.authorization, undefined);
    assert.equal(up.requests[0]?.headers.accept, "text/event-stream");
    assert.equal(up.requests[1]?.headers.authorization, undefined);
  });

  it("keeps the connection alive: sequential calls share one socket", async () => {
    up.script(fault.ok(), fault.ok(), fault.ok());
    const u = upstream();
    for (let i = 0; i < 3; i++) {
      await (await u.post("/x", {}, { signal: signal() })).json();
      // undici frees the connection a tick after the body's end; a call in that same tick opens a second one.
      await new Promise((r) => setImmediate(r));
    }
    const conns = new Set(up.requests.map((r) => r.connection));
    assert.equal(conns.size, 1, `connections used: ${[...conns].join(",")}`);
  });
});

describe("Upstream: status errors and retries", () => {
  it("retries a 5xx up to retries.max, with jittered delays inside the backoff window, then reports 502", async () => {
    up.script(fault.status(500, "boom"), fault.status(503, "boom"), fault.status(500, "still boom"));
    const { delays, sleep } = recordingSleep();
    const err = await failure(upstream({ retries: { max: 2, baseMs: 100, capMs: 2000 } }, { sleep }).post("/x", {}, { signal: signal() }));
    assert.equal(up.requests.length, 3);
    assert.equal(delays.length, 2);
    delays.forEach((d, i) => assert.ok(d >= 0 && d <= 100 * 2 ** i, `delay ${i} = ${d}`));
    assert.equal(err.kind, "upstream");
    assert.deepEqual([err.details.status, err.details.retryable, err.details.code], [502, true, "upstream_error"]);
    assert.match(err.message, /^lab answered 500: still boom$/);
    assert.ok(err instanceof UpstreamStatusError && err.upstreamStatus === 500);
  });

  it("bounds the backoff by capMs (jitter pinned to its maximum)", async () => {
    up.script(...[1, 2, 3, 4].map(() => fault.status(502)));
    const { delays, sleep } = recordingSleep();
    await failure(upstream({ retries: { max: 3, baseMs: 100, capMs: 250 } }, { sleep, random: () => 0.999999 }).post("/x", {}, { signal: signal() }));
    assert.deepEqual(delays, [99, 199, 249]);
    assert.equal(up.requests.length, 4);
  });

  it("succeeds on a retry after a 5xx and after a reset before the headers", async () => {
    up.script(fault.status(502), fault.reset(), fault.ok({ fine: 1 }));
    const { delays, sleep } = recordingSleep();
    const res = await upstream({}, { sleep }).post("/x", {}, { signal: signal() });
    assert.deepEqual(await res.json(), { fine: 1 });
    assert.equal(up.requests.length, 3);
    assert.equal(delays.length, 2);
  });

  it("never retries once the caller has the body: a reset mid-stream reaches the reader", async () => {
    up.script({ kind: "raw", chunks: ["data: 1\n\n"], end: "reset" }, fault.ok());
    const { delays, sleep } = recordingSleep();
    const res = await upstream({ retries: { max: 2 } }, { sleep }).post("/x", {}, { signal: signal(), stream: true });
    const seen: string[] = [];
    const err = await failure((async () => {
      for await (const e of res.sse()) seen.push(e.data);
    })());
    assert.deepEqual(seen, ["1"]);
    assert.equal(err.details.code, "upstream_unreachable");
    assert.equal(up.requests.length, 1);
    assert.equal(delays.length, 0);
    // The spare step was for a retry that must not happen; a fresh call uses it up.
    await (await upstream().post("/x", {}, { signal: signal() })).json();
  });

  it("honours a Retry-After in seconds and as an HTTP date when longer than the backoff", async () => {
    const now = Date.parse("2030-01-01T00:00:00Z");
    up.script(fault.rateLimited("3"), fault.rateLimited(new Date(now + 5000).toUTCString()), fault.ok());
    const { delays, sleep } = recordingSleep();
    await (await upstream({}, { sleep, now: () => now }).post("/x", {}, { signal: signal() })).json();
    assert.deepEqual(delays, [3000, 5000]);
  });

  it("fails at once, with the upstream's Retry-After, when it is beyond maxRetryAfterMs", async () => {
    up.script(fault.rateLimited("60", "quota"));
    const { delays, sleep } = recordingSleep();
    const err = await failure(upstream({ retries: { maxRetryAfterMs: 10_000 } }, { sleep }).post("/x", {}, { signal: signal() }));
    assert.equal(up.requests.length, 1);
    assert.equal(delays.length, 0);
    assert.deepEqual([err.details.status, err.details.retryable, err.details.retryAfterSeconds], [429, true, 60]);
    assert.equal(err.message, "lab answered 429 (rate limited): quota");
  });

  it("does not wait past the total timeout: the last error is reported instead", async () => {
    up.script(fault.rateLimited("2"));
    const { delays, sleep } = recordingSleep();
    const err = await failure(upstream({ timeouts: { totalMs: 1500 } }, { sleep }).post("/x", {}, { signal: signal() }));
    assert.equal(delays.length, 0);
    assert.equal(err.details.status, 429);
  });

  it("really waits for a short Retry-After (real sleep)", async () => {
    up.script(fault.rateLimited("1"), fault.ok());
    const t0 = Date.now();
    await (await upstream().post("/x", {}, { signal: signal() })).json();
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    assert.equal(up.requests.length, 2);
  });

  it("passes other 4xx through, not retried, with the OpenAI- or Anthropic-shaped message", async () => {
    const anthropic = (status: number, message: string) => ({ kind: "json" as const, status, body: { type: "error", error: { type: "invalid_request_error", message } } });
    up.script(
      { kind: "json", status: 400, body: { error: { message: "bad param", type: "invalid_request_error", code: "context_length_exceeded" } } },
      anthropic(404, "model: nope"),
      fault.status(413, "too big"),
      { kind: "json", status: 422, body: "not an error object" },
    );
    const { delays, sleep } = recordingSleep();
    const u = upstream({}, { sleep });
    const errs = [];
    for (let i = 0; i < 4; i++) errs.push(await failure(u.post("/x", {}, { signal: signal() })));
    assert.equal(up.requests.length, 4);
    assert.equal(delays.length, 0);
    assert.deepEqual(errs.map((e) => [e.details.status, e.details.retryable]), [[400, false], [404, false], [413, false], [422, false]]);
    assert.deepEqual(errs.map((e) => e.message), ["lab answered 400: bad param", "lab answered 404: model: nope", "lab answered 413: too big", "lab answered 422"]);
    assert.deepEqual(errs.map((e) => e.details.code), ["context_length_exceeded", "invalid_request_error", "test_error", "upstream_rejected"]);
    assert.equal(u.circuitState, "closed");
  });

  it("reports 401/403 as 502: the gateway's credentials, not the client's fault", async () => {
    up.script(fault.status(401, "Incorrect API key provided: te***ey"), fault.status(403, "forbidden"));
    const u = upstream();
    for (const status of [401, 403]) {
      const err = await failure(u.post("/x", {}, { signal: signal() }));
      assert.deepEqual([err.details.status, err.details.retryable, err.details.code], [502, false, "upstream_auth"]);
      assert.equal(err.message, `lab: upstream rejected the gateway's credentials (${status})`);
    }
    assert.equal(up.requests.length, 2);
  });

  it("retries a refused connection, then reports 502 upstream_unreachable", async () => {
    const silent = await startSilentServer();
    const port = silent.port;
    await silent.close(); // the port is now (almost surely) closed
    const { delays, sleep } = recordingSleep();
    const u = upstream({ baseUrl: `http://127.0.0.1:${port}` }, { sleep });
    const err = await failure(u.post("/x", {}, { signal: signal() }));
    assert.equal(delays.length, 2);
    assert.deepEqual([err.details.status, err.details.retryable, err.details.code], [502, true, "upstream_unreachable"]);
    assert.equal(err.message, "lab: upstream unreachable (ECONNREFUSED)");
  });
});

describe("Upstream: timeouts", () => {
  it("first-byte: a hung upstream is retried, then 504 naming the timeout and the upstream", async () => {
    up.script(fault.hang(), fault.hang());
    const { sleep } = recordingSleep();
    const err = await failure(upstream({ timeouts: { firstByteMs: 150 }, retries: { max: 1 } }, { sleep }).post("/x", {}, { signal: signal() }));
    assert.equal(up.requests.length, 2);
    assert.deepEqual([err.details.status, err.details.retryable, err.details.code], [504, true, "upstream_timeout"]);
    assert.equal(err.message, "lab: first-byte timeout (no response headers within 150 ms)");
  });

  it("connect: a TLS handshake that never completes", async () => {
    const silent = await startSilentServer();
    try {
      const u = upstream({ baseUrl: `https://127.0.0.1:${silent.port}`, timeouts: { connectMs: 100 }, retries: { max: 0 } });
      const t0 = Date.now();
      const err = await failure(u.post("/x", {}, { signal: signal() }));
      assert.equal(err.message, "lab: connect timeout (no connection within 100 ms)");
      assert.deepEqual([err.details.status, err.details.code], [504, "upstream_timeout"]);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await silent.close();
    }
  });

  it("idle: a stream that stalls after its headers fails the reader", async () => {
    up.script({ kind: "raw", chunks: ['data: {"a":1}\n\n'], end: "stall" });
    const res = await upstream({ timeouts: { idleMs: 150 } }).post("/x", {}, { signal: signal(), stream: true });
    const seen: string[] = [];
    const err = await failure((async () => {
      for await (const e of res.sse()) seen.push(e.data);
    })());
    assert.deepEqual(seen, ['{"a":1}']);
    assert.equal(err.message, "lab: idle timeout (no response data for 150 ms)");
    assert.equal(err.details.code, "upstream_timeout");
  });

  it("total: before the headers it is not retried; during the body it ends the stream", async () => {
    up.script(fault.hang());
    const u = upstream({ timeouts: { totalMs: 300 } });
    const err = await failure(u.post("/x", {}, { signal: signal() }));
    assert.equal(err.message, "lab: total timeout (the request took longer than 300 ms)");
    assert.equal(up.requests.length, 1);

    up.script(fault.sse(Array.from({ length: 40 }, (_, i) => ({ data: String(i) })), { gapMs: 30 }));
    const res = await u.post("/x", {}, { signal: signal(), stream: true });
    let n = 0;
    const err2 = await failure((async () => {
      for await (const _ of res.sse()) n++;
    })());
    assert.equal(err2.message, "lab: total timeout (the request took longer than 300 ms)");
    assert.ok(n > 0 && n < 40, `read ${n} events`);
  });
});

describe("Upstream: cancellation", () => {
  it("an aborted signal fails at once, sending nothing", async () => {
    const ctl = new AbortController();
    ctl.abort();
    const err = await failure(upstream().post("/x", {}, { signal: ctl.signal }));
    assert.equal(err.kind, "aborted");
    assert.equal(up.requests.length, 0);
  });

  it("abort during the backoff stops at once, with no further attempt", async () => {
    up.script(fault.status(500));
    const ctl = new AbortController();
    const u = upstream({ retries: { baseMs: 5000, capMs: 5000 } }, { random: () => 0.99 });
    setTimeout(() => ctl.abort(), 100);
    const t0 = Date.now();
    const err = await failure(u.post("/x", {}, { signal: ctl.signal }));
    assert.equal(err.kind, "aborted");
    assert.equal(err.message, "lab: the request was cancelled");
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(up.requests.length, 1);
    assert.equal(u.circuitState, "closed");
  });

  it("abort while waiting for the headers, and during the body, reads as aborted", async () => {
    up.script(fault.hang());
    const u = upstream({ circuit: { failures: 1 } });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    assert.equal((await failure(u.post("/x", {}, { signal: ctl.signal }))).kind, "aborted");

    up.script(fault.sse(Array.from({ length: 50 }, (_, i) => ({ data: String(i) })), { gapMs: 20 }));
    const ctl2 = new AbortController();
    const res = await u.post("/x", {}, { signal: ctl2.signal, stream: true });
    const seen: string[] = [];
    const err = await failure((async () => {
      for await (const e of res.sse()) {
        seen.push(e.data);
        if (seen.length === 2) ctl2.abort();
      }
    })());
    assert.equal(err.kind, "aborted");
    assert.ok(seen.length >= 2 && seen.length < 50);
    assert.equal(u.circuitState, "closed", "a cancellation is not the upstream's failure");
  });
});
