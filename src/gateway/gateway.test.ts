import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InferdError, isInferdError } from "../util/errors.js";
import type { Provider, ProviderEvent, ProviderRequest } from "../providers/provider.js";
import { Gateway } from "./gateway.js";

/** A provider that fails with `error` before any event, or plays `events`; it counts its calls. */
function provider(name: string, behaviour: { error?: Error; events?: (ProviderEvent | Error)[] }) {
  const p = {
    name,
    calls: 0,
    async *generate(): AsyncGenerator<ProviderEvent> {
      p.calls++;
      if (behaviour.error) throw behaviour.error;
      for (const e of behaviour.events ?? []) {
        if (e instanceof Error) throw e;
        yield e;
      }
    },
    close: async () => {},
  };
  return p satisfies Provider;
}

const req: Omit<ProviderRequest, "model"> = { id: "r", input: { kind: "prompt", prompt: "x" }, sampling: {}, n: 1, signal: new AbortController().signal };
const hello: ProviderEvent = { type: "text", choice: 0, text: "hello" };
const retryable = () => new InferdError("upstream", "upstream 503", { status: 502, retryable: true });

describe("Gateway", () => {
  it("falls back down the list while a route fails before its first event with a retryable error", async () => {
    const a = provider("a", { error: retryable() });
    const b = provider("b", { error: new InferdError("overloaded", "busy") });
    const c = provider("c", { events: [hello] });
    const g = new Gateway([
      { name: "big", provider: a, model: "a1", fallbacks: ["mid", "small"] },
      { name: "mid", provider: b, model: "b1", fallbacks: [] },
      { name: "small", provider: c, model: "c1", fallbacks: ["big"] },
    ]);
    const opened = await g.open("big", req);
    assert.equal(opened.route.name, "small");
    assert.deepEqual(opened.first, hello);
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 1, 1]);
  });

  it("does not fall back on the client's own errors, nor after the first event", async () => {
    const bad = provider("a", { error: new InferdError("invalid_argument", "bad temperature") });
    const spare = provider("b", { events: [hello] });
    const g = new Gateway([
      { name: "x", provider: bad, model: "a", fallbacks: ["y"] },
      { name: "y", provider: spare, model: "b", fallbacks: [] },
    ]);
    await assert.rejects(g.open("x", req), (e) => isInferdError(e, "invalid_argument"));
    assert.equal(spare.calls, 0);
    const late = provider("c", { events: [hello, retryable()] });
    const g2 = new Gateway([
      { name: "x", provider: late, model: "c", fallbacks: ["y"] },
      { name: "y", provider: spare, model: "b", fallbacks: [] },
    ]);
    const opened = await g2.open("x", req);
    await assert.rejects(opened.rest.next(), (e) => isInferdError(e, "upstream"));
    assert.equal(spare.calls, 0, "committed: the error is the response's, no fallback");
  });

  it("the last error when every fallback fails; unknown names are a 404 kind; fallbacks must exist", async () => {
    const g = new Gateway([
      { name: "x", provider: provider("a", { error: retryable() }), model: "a", fallbacks: ["y"] },
      { name: "y", provider: provider("b", { error: new InferdError("unavailable", "circuit open") }), model: "b", fallbacks: ["x"] },
    ]);
    await assert.rejects(g.open("x", req), (e) => isInferdError(e, "unavailable"));
    assert.throws(() => g.route("z"), (e) => isInferdError(e, "model_not_found"));
    assert.throws(() => new Gateway([{ name: "x", provider: provider("a", {}), model: "a", fallbacks: ["nope"] }]), /nope/);
  });
});
