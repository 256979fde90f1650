import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { isInferdError } from "../../util/errors.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import { fault, FaultUpstream } from "./fault-upstream.js";
import { Upstream } from "./upstream.js";

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const isOpen = (e: unknown) => isInferdError(e, "unavailable") && e.message === "lab is unavailable (circuit open)" && e.details.retryable === true;

describe("CircuitBreaker", () => {
  it("opens after N consecutive failures; a whole answer in between resets the count", () => {
    const c = clock();
    const b = new CircuitBreaker("lab", { failures: 3, cooldownMs: 10_000 }, c.now);
    b.admit().settle("failure");
    b.admit().settle("failure");
    b.admit().settle("success");
    b.recordBody("complete");
    b.admit().settle("failure");
    b.admit().settle("failure");
    assert.equal(b.state, "closed");
    b.admit().settle("failure");
    assert.equal(b.state, "open");
    assert.throws(() => b.admit(), (e) => isOpen(e) && isInferdError(e) && e.details.retryAfterSeconds === 10);
    c.advance(4000);
    assert.throws(() => b.admit(), (e) => isInferdError(e) && e.details.retryAfterSeconds === 6);
  });

  it("open -> half-open -> closed: one trial at a time, its success closes", () => {
    const c = clock();
    const b = new CircuitBreaker("lab", { failures: 1, cooldownMs: 1000 }, c.now);
    b.admit().settle("failure");
    c.advance(999);
    assert.equal(b.state, "open");
    c.advance(1);
    assert.equal(b.state, "half-open");
    const trial = b.admit();
    assert.throws(() => b.admit(), isOpen, "a second call while the trial is in flight");
    trial.settle("success");
    assert.equal(b.state, "closed");
    b.admit().settle("success");
  });

  it("open -> half-open -> open: a failed trial restarts the cooldown", () => {
    const c = clock();
    const b = new CircuitBreaker("lab", { failures: 2, cooldownMs: 1000 }, c.now);
    b.admit().settle("failure");
    b.admit().settle("failure");
    c.advance(1000);
    b.admit().settle("failure");
    assert.equal(b.state, "open");
    c.advance(999);
    assert.equal(b.state, "open");
    c.advance(1);
    assert.equal(b.state, "half-open");
  });

  it("neutral outcomes count for nothing, and a neutral trial frees the slot", () => {
    const c = clock();
    const b = new CircuitBreaker("lab", { failures: 1, cooldownMs: 1000 }, c.now);
    for (let i = 0; i < 5; i++) b.admit().settle("neutral");
    assert.equal(b.state, "closed");
    b.admit().settle("failure");
    c.advance(1000);
    b.admit().settle("neutral");
    assert.equal(b.state, "half-open");
    const trial = b.admit();
    trial.settle("success");
    trial.settle("failure"); // a second settle is ignored
    assert.equal(b.state, "closed");
  });

  it("bodies: a broken one counts as a failure even after its answer's success; a complete one resets the count", () => {
    const c = clock();
    const b = new CircuitBreaker("lab", { failures: 2, cooldownMs: 1000 }, c.now);
    b.admit().settle("failure");
    b.admit().settle("success");
    b.recordBody("complete");
    b.admit().settle("success");
    b.recordBody("broken");
    assert.equal(b.state, "closed", "the complete body reset the count");
    b.admit().settle("success");
    b.recordBody("broken");
    assert.equal(b.state, "open");
    c.advance(1000);
    b.recordBody("broken");
    assert.equal(b.state, "half-open", "an open circuit waits for its trial");
  });
});

describe("CircuitBreaker in an Upstream, over HTTP", () => {
  let up: FaultUpstream;
  before(async () => {
    up = await FaultUpstream.start();
  });
  after(() => up.close());
  beforeEach(() => {
    up.requests.length = 0;
  });

  async function withUpstream(fn: (u: Upstream, c: ReturnType<typeof clock>) => Promise<void>): Promise<void> {
    const c = clock();
    const u = new Upstream({ name: "lab", baseUrl: up.url, retries: { max: 1 }, circuit: { failures: 2, cooldownMs: 5000 } }, { now: c.now, sleep: async () => {} });
    try {
      await fn(u, c);
    } finally {
      await u.close();
    }
  }
  const call = (u: Upstream) => u.post("/x", {}, { signal: new AbortController().signal });

  it("counts one failure per call after its retries; open fails at once without a request; a good trial closes", () =>
    withUpstream(async (u, c) => {
      up.script(fault.status(500), fault.status(500));
      await assert.rejects(call(u), /answered 500/);
      assert.equal(u.circuitState, "closed", "two failed attempts are one failed call");
      up.script(fault.hang());
      await assert.rejects(u.post("/x", {}, { signal: AbortSignal.timeout(100) }), (e) => isInferdError(e, "aborted"));
      assert.equal(u.circuitState, "closed", "a cancellation is not a failure");
      up.script(fault.reset(), fault.reset());
      await assert.rejects(call(u), /unreachable/);
      assert.equal(u.circuitState, "open");
      const sent = up.requests.length;
      await assert.rejects(call(u), isOpen);
      assert.equal(up.requests.length, sent, "no request while open");
      c.advance(5000);
      assert.equal(u.circuitState, "half-open");
      up.script(fault.ok());
      await (await call(u)).json();
      assert.equal(u.circuitState, "closed");
    }));

  it("a failed trial re-opens it; the client's own errors (4xx) never open it", () =>
    withUpstream(async (u, c) => {
      up.script(fault.status(400), fault.status(404), fault.status(422));
      for (let i = 0; i < 3; i++) await assert.rejects(call(u), /answered 4/);
      assert.equal(u.circuitState, "closed");
      up.script(fault.status(502), fault.status(502), fault.status(502), fault.status(502));
      await assert.rejects(call(u));
      await assert.rejects(call(u));
      assert.equal(u.circuitState, "open");
      c.advance(5000);
      up.script(fault.status(500), fault.status(500));
      await assert.rejects(call(u), /answered 500/);
      assert.equal(u.circuitState, "open");
      await assert.rejects(call(u), isOpen);
      assert.equal(up.pending, 0);
    }));

  it("streams that break off mid-body count as failures", () =>
    withUpstream(async (u) => {
      for (let i = 0; i < 2; i++) {
        up.script({ kind: "raw", chunks: ["data: 1\n\n"], end: "reset" });
        const res = await u.post("/x", {}, { signal: new AbortController().signal, stream: true });
        await assert.rejects(async () => {
          for await (const _ of res.sse()) {
            // read to the break
          }
        }, /connection lost mid-response/);
      }
      assert.equal(u.circuitState, "open");
    }));
});
