/** Builds the speculative-decoding controller an engine's options ask for. */
import type { Backend } from "../backend/backend.js";
import { LlamaBackend } from "../backend/llama-backend.js";
import type { EngineOptions } from "../engine/engine.js";
import { resolveModel } from "../models/resolve.js";
import { InferdError } from "../util/errors.js";
import { ThreadTuner } from "../engine/thread-tuner.js";
import { SpecController } from "./controller.js";
import { DraftModelDrafter } from "./draft-model-drafter.js";
import { NgramDrafter } from "./ngram-drafter.js";

/** The drafter the options ask for, around the loaded target. */
export async function loadSpec(opts: EngineOptions, target: Backend, threads: number, maxRunning: number): Promise<SpecController | undefined> {
  const mode = opts.speculative ?? (opts.draftModel !== undefined ? "draft" : "off");
  const k = opts.specK ?? 16;
  if (!Number.isInteger(k) || k < 1 || k > 32) throw new InferdError("invalid_argument", `invalid specK: ${k} (must be an integer in [1, 32])`, { param: "specK" });
  if (opts.drafter !== undefined) return new SpecController(opts.drafter, k, undefined, opts.specAdaptive ?? true);
  switch (mode) {
    case "off":
      return undefined;
    case "ngram":
      return new SpecController(new NgramDrafter(), k, undefined, opts.specAdaptive ?? true);
    case "draft": {
      if (opts.draftModel === undefined) throw new InferdError("invalid_argument", "speculative decoding with a draft model needs a draft model", { param: "draftModel" });
      const path = await resolveModel(opts.draftModel, { progress: opts.progress });
      const draft = await LlamaBackend.load({
        path,
        threads: opts.threads ?? 1,
        contextSize: target.kv.cellsPerSequence,
        maxSequences: maxRunning,
        batchSize: target.kv.maxBatchTokens,
        flashAttention: opts.flashAttention,
      });
      if (draft.model.vocabSize !== target.model.vocabSize) {
        await draft.dispose();
        throw new InferdError("invalid_argument", `the draft model's vocabulary (${draft.model.vocabSize} tokens) differs from the target's (${target.model.vocabSize})`, { param: "draftModel" });
      }
      // the draft decodes mostly single tokens, where fewer threads are often faster: measured per batch size
      return new SpecController(new DraftModelDrafter(draft, opts.threads === undefined ? new ThreadTuner(threads) : undefined), k, undefined, opts.specAdaptive ?? true);
    }
    default:
      throw new InferdError("invalid_argument", `invalid speculative mode ${JSON.stringify(mode)} (ngram, draft or off)`, { param: "speculative" });
  }
}
