/**
 * The upstream key must never reach a message, a code or any other detail of an error, whatever
 * fails: every error path of the HTTP layer is triggered here with a key set (and echoed back by
 * the upstream where an upstream could echo it), and each error is searched for the key.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isInferdError, type InferdError } from "../../util/errors.js";
import { fault, FaultUpstream, startSilentServer, type FaultStep } from "./fault-upstream.js";
import { Upstream, type UpstreamOptions } from "./upstream.js";

const KEY = "sk-test-Zq7xW3vR9pL2mN8k";

describe("the upstream key never appears in an error", () => {
  let up: FaultUpstream;
  const seen: InferdError[] = [];
  const made: Upstream[] = [];
  before(async () => {
    up = await FaultUpstream.start();
  });
  after(async () => {
    await Promise.all(made.map((u) => u.close()));
    await up.close();
  });

  function upstream(opts: Partial<UpstreamOptions> = {}): Upstream {
    const u = new Upstream({ name: "lab", baseUrl: up.url, apiKey: KEY, retries: { max: 0 }, circuit: { failures: 1000 }, ...opts });
    made.push(u);
    return u;
  }

  /** Runs one call (and reads its body as events), recording the error it must end with. */
  async function expectError(step: FaultStep | undefined, opts: Partial<UpstreamOptions> = {}, signal = new AbortController().signal, read: "sse" | "json" = "sse"): Promise<void> {
    if (step !== undefined) up.script(step);
    try {
      const res = await upstream(opts).post("/v1/chat", { echo: KEY }, { signal, stream: read === "sse" });
      if (read === "json") await res.json();
      else for await (const _ of res.sse({ isFinal: (e) => e.data === "[DONE]" }));
    } catch (e) {
      assert.ok(isInferdError(e), String(e));
      seen.push(e);
      return;
    }
    assert.fail(`no error for ${JSON.stringify(step)}`);
  }

  const echo = (status: number) => ({ kind: "json" as const, status, body: { error: { message: `you sent ${KEY}`, code: KEY } } });
  const anthropicEcho = (status: number) => ({ kind: "json" as const, status, body: { type: "error", error: { type: "x", message: `key ${KEY} bad` } } });

  it("over every error path", async () => {
    for (const status of [400, 401, 403, 404, 413, 422, 429, 500, 503]) await expectError(echo(status));
    await expectError(anthropicEcho(400));
    await expectError(fault.rateLimited("60", `wait, ${KEY}`));
    await expectError(fault.reset());
    await expectError(fault.hang(), { timeouts: { firstByteMs: 100 } });
    await expectError(fault.hang(), { timeouts: { totalMs: 100 } });
    await expectError({ kind: "raw", chunks: ["data: 1\n\n"], end: "stall" }, { timeouts: { idleMs: 100 } });
    await expectError({ kind: "raw", chunks: [`${KEY}: 1\n\n`], end: "end" });
    await expectError({ kind: "raw", chunks: [`data: ${KEY}`], end: "end" });
    await expectError({ kind: "raw", chunks: [`data: ${KEY}\n\n`], end: "reset" });
    await expectError(fault.sse([{ data: KEY }], { done: false }));
    await expectError({ kind: "raw", chunks: [`{"a": ${KEY}`], end: "end" }, {}, undefined, "json");
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error(`aborted ${KEY}`)), 50);
    await expectError(fault.hang(), {}, ctl.signal);
    const silent = await startSilentServer();
    await expectError(undefined, { baseUrl: `https://127.0.0.1:${silent.port}`, timeouts: { connectMs: 100 } });
    await silent.close();
    await expectError(undefined, { baseUrl: `http://127.0.0.1:${silent.port}` }); // refused now
    const breaker = upstream({ circuit: { failures: 1 } });
    up.script(fault.status(500));
    await assert.rejects(breaker.post("/x", {}, { signal: new AbortController().signal }));
    await assert.rejects(breaker.post("/x", {}, { signal: new AbortController().signal }), (e) => isInferdError(e) && void seen.push(e) === undefined);

    assert.equal(up.pending, 0);
    const kinds = new Set(seen.map((e) => e.details.code));
    for (const code of ["upstream_auth", "upstream_rate_limited", "upstream_error", "upstream_unreachable", "upstream_timeout", "upstream_bad_stream", "upstream_bad_response", "request_cancelled", "circuit_open"]) {
      assert.ok(kinds.has(code), `no error with code ${code}`);
    }
    for (const e of seen) {
      const text = `${e.message} ${JSON.stringify(e.details)} ${String(e.stack)}`;
      assert.ok(!text.includes(KEY), `the key leaked: ${text}`);
    }
    // The key did go where it belongs.
    assert.ok(up.requests.length > 20);
    for (const r of up.requests) assert.equal(r.headers.authorization, `Bearer ${KEY}`);
  });
});
