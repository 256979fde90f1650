/**
 * The sizes `Engine.load` derives from its options before loading: context, sequences and KV
 * slots. One place, so that the model pool's memory estimate (src/providers/local/) plans
 * exactly the KV the engine will allocate.
 */
import type { EngineOptions } from "./engine.js";

/** Sequences and KV slots an engine's options ask for, defaults applied. */
export interface SequencePlan {
  /** Sequences served at once (default 8). */
  maxSequences: number;
  /** Sequences decoding at once, at most `maxSequences`. */
  maxRunning: number;
  prefixCache: boolean;
  /** KV slots kept beyond `maxSequences` for cached prefixes. */
  cacheSequences: number;
  /** Every KV slot of the context: `maxSequences + cacheSequences`. */
  kvSequences: number;
}

export function sequencePlan(opts: EngineOptions): SequencePlan {
  const maxSequences = opts.maxSequences ?? 8;
  const prefixCache = opts.prefixCache ?? true;
  const cacheSequences = prefixCache ? (opts.cacheSequences ?? maxSequences) : 0;
  return {
    maxSequences,
    maxRunning: Math.min(opts.maxRunning ?? maxSequences, maxSequences),
    prefixCache,
    cacheSequences,
    kvSequences: maxSequences + cacheSequences,
  };
}

/** Most context a default (no `contextSize`) takes from the model: KV memory grows with it. */
export const DEFAULT_CONTEXT_CAP = 4096;

/** A model's default context from its GGUF metadata: its trained context, capped at 4096. */
export function contextFromMetadata(metadata: unknown): number {
  const m = metadata as { general?: { architecture?: string } } & Record<string, { context_length?: number } | undefined>;
  const arch = m.general?.architecture ?? "";
  return Math.min(m[arch]?.context_length ?? DEFAULT_CONTEXT_CAP, DEFAULT_CONTEXT_CAP);
}

/** The default context of a model file; 4096 when its metadata cannot be read. */
export async function defaultContextSize(path: string): Promise<number> {
  try {
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
    return contextFromMetadata(info.metadata);
  } catch {
    return DEFAULT_CONTEXT_CAP; // LlamaBackend.load reports what is wrong with the file
  }
}

/**
 * KV cells llama.cpp gives each sequence for a requested context: it pads a sequence's share
 * of the context up to a multiple of 256 cells (measured: 64 and 100 -> 256, 300 -> 512).
 */
export function paddedContext(contextSize: number): number {
  return Math.ceil(contextSize / 256) * 256;
}
