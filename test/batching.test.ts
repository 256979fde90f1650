import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Engine, type GenerateEvent } from "../src/index.js";
import { needsShared, STORIES } from "./shared.js";

describe("continuous batching on stories260K", needsShared, () => {
  let engine: Engine;
  before(async () => {
    // 2 sequences, a 64-token step budget: easy to fill, chunked prefill visible
    engine = await Engine.load({ model: STORIES!, threads: 1, maxSequences: 2, batchSize: 64 });
  });
  after(async () => engine?.dispose());

  it("an aborted request frees its sequence for a waiting one", async () => {
    const ac = new AbortController();
    const tokensOf = async (it: AsyncIterable<GenerateEvent>, onToken?: (n: number) => void) => {
      let n = 0;
      let reason = "";
      for await (const ev of it) {
        if (ev.type === "delta") {
          n += ev.tokens.length;
          onToken?.(n);
        }
        else reason = ev.finishReason;
      }
      return { n, reason };
    };
    let waitingStartedAt = -1;
    let aTokens = 0;
    const a = tokensOf(engine.generate("Once", { temperature: 0, maxTokens: 400 }, { signal: ac.signal }), (n) => {
      aTokens = n;
      if (n === 20) ac.abort();
    });
    const b = tokensOf(engine.generate("Lily", { temperature: 0, maxTokens: 60 }));
    // both sequences are taken: the third request waits until `a` is aborted
    const c = tokensOf(engine.generate("Tom", { temperature: 0, maxTokens: 10 }), (n) => {
      if (n === 1) waitingStartedAt = aTokens;
    });
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.equal(ra.reason, "abort");
    assert.ok(ra.n >= 20 && ra.n <= 21, `aborted at once (${ra.n})`);
    assert.equal(rb.n, 60);
    assert.equal(rc.n, 10);
    assert.ok(waitingStartedAt >= 20, `the waiting request started only after the abort (a had ${waitingStartedAt} tokens)`);
  });

  it("a long prompt admitted while others decode does not stop their streams", async () => {
    const steps: { tokens: number; sequences: number }[] = [];
    engine.onStep((s) => steps.push({ tokens: s.tokens, sequences: s.sequences }));
    let streamTokens = 0;
    let streamTokensWhenLongArrived = 0;
    let streamTokensAtLongFirstToken = 0;
    const stream = (async () => {
      for await (const ev of engine.generate("Once", { temperature: 0, maxTokens: 100 })) if (ev.type === "delta") streamTokens += ev.tokens.length;
    })();
    while (streamTokens < 5) await new Promise((r) => setTimeout(r, 1));
    // a 450-token prompt needs 8 chunks of the 64-token step budget
    const long = Array.from({ length: 450 }, (_, i) => (i === 0 ? 1 : 403 + (i % 20)));
    const first = steps.length;
    streamTokensWhenLongArrived = streamTokens;
    const longReq = (async () => {
      for await (const ev of engine.generate(long, { temperature: 0, maxTokens: 3 })) {
        if (ev.type === "delta" && streamTokensAtLongFirstToken === 0) streamTokensAtLongFirstToken = streamTokens;
      }
    })();
    await Promise.all([stream, longReq]);
    const prefillSteps = steps.slice(first).filter((s) => s.tokens > 2);
    assert.ok(prefillSteps.length >= 8, `the long prompt was prefilled in chunks (${prefillSteps.length} steps)`);
    for (const s of prefillSteps) {
      assert.ok(s.tokens <= 64, "within the step budget");
      assert.equal(s.sequences, 2, "the decoding stream is in every prefill step");
    }
    assert.ok(
      streamTokensAtLongFirstToken - streamTokensWhenLongArrived >= prefillSteps.length - 1,
      `the stream kept decoding during the prefill (${streamTokensAtLongFirstToken - streamTokensWhenLongArrived} tokens over ${prefillSteps.length} steps)`,
    );
  });
});
