/**
 * What a local model will cost in memory once loaded, from its GGUF file, before loading it:
 * the model pool decides from this which models fit its budget.
 *
 * estimate = weights + KV, where
 * - weights = the GGUF file's size (llama.cpp maps the file; on CPUs where it repacks weights,
 *   AMX or interleaved quant types, it holds a repacked copy of about that size instead);
 * - KV = n_layer x cells x sequences x (n_embd_k_gqa + n_embd_v_gqa) x 2 bytes (f16 K and V),
 *   with the engine's own layout: cells = the context padded up to llama.cpp's 256, sequences =
 *   `maxSequences` + the prefix cache's `cacheSequences` + 1 for the embedding context that the
 *   first embed call makes;
 * - plus the same for a draft model (speculative "draft": its file, and KV of the target's
 *   context for `maxRunning` sequences).
 *
 * Margin, measured (x86 with AMX, SmolLM2-135M shape q4_0, one Engine.load and a short
 * generation; estimate vs RSS growth, of which anonymous): 130 vs 243 (169) MiB at context
 * 512 x 2 sequences, 479 vs 564 (490) at 2048 x 4, 1604 vs 1645 (1572) at 4096 x 8. RSS exceeds
 * the estimate by 50-60 MiB (the used part of llama.cpp's compute buffer, tokenizer tables,
 * node-llama-cpp's parsed metadata and JS heap; ~1 MiB for a 512-token vocabulary), less the
 * embedding context's KV until an embed call makes it, plus the weights counted a second time
 * as the mapped file's pages where llama.cpp repacked them: those are clean file pages the
 * kernel reclaims under pressure, so the estimate targets the memory really held.
 * Architectures without attention heads (recurrent state) are estimated by their file alone;
 * sliding-window KV is counted in full (an overestimate). Not counted: the second KV tier,
 * which lives on disk or /dev/shm under its own budget (`kvTierBytes`).
 */
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { totalmem } from "node:os";
import { checkGgufFile } from "../../backend/model-file.js";
import type { EngineOptions } from "../../engine/engine.js";
import { contextFromMetadata, paddedContext, sequencePlan } from "../../engine/load-plan.js";
import { resolveModel } from "../../models/resolve.js";
import { InferdError, firstLine } from "../../util/errors.js";

/** Bytes of one K or V element: llama.cpp's default KV type, f16. */
const KV_ELEMENT_BYTES = 2;

export interface MemoryEstimate {
  /** The resolved GGUF path (a synthetic: or hf: spec is written or downloaded first). */
  path: string;
  /** The file's size: its weights. */
  weightsBytes: number;
  /** KV cache of every sequence the engine allocates. */
  kvBytes: number;
  /** KV cells per sequence and sequences, as the engine will lay them out. */
  cellsPerSequence: number;
  kvSequences: number;
  /** The draft model's weights and KV, when speculative decoding uses one. */
  draftBytes: number;
  /** Everything: weights + KV + draft. */
  bytes: number;
}

/** The memory a model loaded with these options will take (see the module comment). */
export async function estimateMemory(opts: EngineOptions): Promise<MemoryEstimate> {
  const path = await resolveModel(opts.model, { progress: opts.progress });
  const target = await readShape(path);
  const plan = sequencePlan(opts);
  const cells = paddedContext(opts.contextSize ?? contextFromMetadata(target.metadata));
  const kvSequences = plan.kvSequences + 1;
  const kvBytes = target.kvBytesPerCell * cells * kvSequences;
  let draftBytes = 0;
  if (usesDraftModel(opts)) {
    const draft = await readShape(await resolveModel(opts.draftModel, { progress: opts.progress }));
    draftBytes = draft.fileBytes + draft.kvBytesPerCell * cells * plan.maxRunning;
  }
  return {
    path,
    weightsBytes: target.fileBytes,
    kvBytes,
    cellsPerSequence: cells,
    kvSequences,
    draftBytes,
    bytes: target.fileBytes + kvBytes + draftBytes,
  };
}

/** Share of the machine's memory a default budget gives local models (the rest: the process, the OS, other programs). */
export const DEFAULT_BUDGET_SHARE = 0.75;

/**
 * The default memory budget of a model pool: 75% of the memory this process may use (its
 * cgroup v2 limit when it has one, else the machine's RAM).
 */
export function defaultMemoryBudgetBytes(): number {
  let limit = totalmem();
  try {
    const max = readFileSync("/sys/fs/cgroup/memory.max", "utf8").trim();
    if (/^\d+$/.test(max)) limit = Math.min(limit, Number(max));
  } catch {
    // no cgroup v2 memory controller here (not Linux, or cgroup v1): the machine's RAM is the limit
  }
  return Math.floor(limit * DEFAULT_BUDGET_SHARE);
}

/** "12.3 MiB": how estimates appear in messages. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** Whether Engine.load will load a draft model for these options (as loadSpec decides). */
function usesDraftModel(opts: EngineOptions): boolean {
  if (opts.drafter !== undefined || opts.draftModel === undefined) return false;
  return (opts.speculative ?? "draft") === "draft";
}

interface Shape {
  fileBytes: number;
  metadata: unknown;
  /** KV bytes of one cell of one sequence, all layers: sum over layers of (k + v width) x 2. */
  kvBytesPerCell: number;
}

async function readShape(path: string): Promise<Shape> {
  await checkGgufFile(path);
  const { readGgufFileInfo } = await import("node-llama-cpp");
  let metadata: Record<string, unknown>;
  try {
    metadata = (await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false })).metadata as unknown as Record<string, unknown>;
  } catch (e) {
    throw new InferdError("invalid_model", `cannot read the GGUF metadata of ${path}: ${firstLine(e)}`);
  }
  const fileBytes = (await stat(path)).size;
  return { fileBytes, metadata, kvBytesPerCell: kvBytesPerCell(metadata) };
}

interface ArchMetadata {
  block_count?: number;
  embedding_length?: number;
  attention?: { head_count?: number | number[]; head_count_kv?: number | number[]; key_length?: number; value_length?: number };
}

/**
 * n_embd_k_gqa + n_embd_v_gqa summed over layers, times the element size. Head counts may be
 * per layer (arrays); the head width defaults to n_embd / n_head as in llama.cpp.
 */
export function kvBytesPerCell(metadata: Record<string, unknown>): number {
  const arch = (metadata.general as { architecture?: string } | undefined)?.architecture ?? "";
  const m = (metadata[arch] ?? {}) as ArchMetadata;
  const layers = m.block_count ?? 0;
  const att = m.attention;
  if (att?.head_count === undefined || layers === 0) return 0;
  let width = 0;
  for (let l = 0; l < layers; l++) {
    const heads = perLayer(att.head_count, l);
    if (heads === 0) continue; // a layer without attention (hybrid models) keeps no KV
    const kvHeads = att.head_count_kv === undefined ? heads : perLayer(att.head_count_kv, l);
    const headWidth = (m.embedding_length ?? 0) / heads;
    width += kvHeads * ((att.key_length ?? headWidth) + (att.value_length ?? headWidth));
  }
  return width * KV_ELEMENT_BYTES;
}

function perLayer(v: number | number[], layer: number): number {
  return typeof v === "number" ? v : (v[layer] ?? 0);
}
