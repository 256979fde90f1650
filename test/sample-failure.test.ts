/**
 * A sample that fails (a grammar refusing the sampled token, say) fails its own request, not the
 * batch: the real stories260K backend, with the failure injected into one item's result.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { StepPlan, StepResult } from "../src/backend/backend.js";
import { LlamaBackend } from "../src/backend/llama-backend.js";
import { EngineCore, type CoreEvent } from "../src/engine/engine-core.js";
import { resolveParams } from "../src/engine/params.js";
import type { SchedulerOutput } from "../src/engine/scheduler.js";
import type { Sequence } from "../src/engine/sequence.js";
import { needsShared, STORIES } from "./shared.js";

describe("a failed sample", needsShared, () => {
  let backend: LlamaBackend;
  before(async () => {
    backend = await LlamaBackend.load({ path: STORIES!, threads: 1, contextSize: 256, maxSequences: 2, batchSize: 64 });
  });
  after(async () => backend?.dispose());

  it("ends its request with the error while the others go on", async () => {
    let steps = 0;
    let victim: Sequence | undefined;
    // fault injection: the real step, then one item's sample reported as failed
    const faulty = Object.create(backend) as LlamaBackend;
    faulty.run = async (plan: StepPlan): Promise<StepResult> => {
      const result = await backend.run(plan);
      if (++steps === 4 && victim !== undefined) {
        const i = (plan as SchedulerOutput).sequences.indexOf(victim);
        if (i >= 0 && plan.items[i]!.sample) {
          const errors = new Array(plan.items.length);
          errors[i] = new Error("grammar refused the token");
          return { samples: result.samples.map((s, k) => (k === i ? undefined : s)), errors };
        }
      }
      return result;
    };
    const core = new EngineCore(faulty, { maxRunning: 2, maxWaiting: 4 });
    const run = (prompt: number[]) => {
      const seen: CoreEvent[] = [];
      let done!: () => void;
      const ended = new Promise<void>((r) => (done = r));
      const seq = core.add(prompt, resolveParams({ temperature: 0, maxTokens: 20 }), (ev) => {
        seen.push(ev);
        if (ev.type !== "token" || ev.finished !== undefined) done();
      });
      return { seq, seen, ended };
    };
    const a = run([1, 403]);
    const b = run([1, 385]);
    victim = a.seq;
    await Promise.all([a.ended, b.ended]);
    const last = a.seen.at(-1)!;
    assert.equal(last.type, "error");
    assert.match((last as { error: Error }).error.message, /grammar refused/);
    const tokens = b.seen.filter((e) => e.type === "token");
    assert.equal(tokens.length, 20, "the other request ran to its end");
    assert.equal(core.scheduler.runningCount, 0);
    await core.close();
  });
});
