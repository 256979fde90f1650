/**
 * Reading a GGUF model file: checks before llama.cpp sees it, and what inferd reports about a
 * loaded model.
 */
import { open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { GgufFileType, type LlamaModel } from "node-llama-cpp";
import { InferdError } from "../util/errors.js";
import type { ModelInfo } from "./backend.js";

/** What inferd reports about a loaded model, from its GGUF metadata. */
export function modelInfo(m: LlamaModel, path: string): ModelInfo {
  const meta = m.fileInfo.metadata as unknown as {
    general?: { name?: string; architecture?: string; file_type?: number };
    tokenizer?: { chat_template?: string; ggml?: { add_bos_token?: boolean } };
  };
  const fileType = meta.general?.file_type;
  return {
    path,
    name: meta.general?.name ?? basename(path),
    architecture: meta.general?.architecture ?? "unknown",
    parameterCount: m.fileInsights.totalParameters,
    quantization: quantName(fileType),
    trainContextSize: m.trainContextSize,
    vocabSize: m.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0,
    chatTemplate: meta.tokenizer?.chat_template,
    bosToken: m.tokens.bos ?? undefined,
    eosToken: m.tokens.eos ?? undefined,
    bosText: m.tokens.bosString ?? undefined,
    eosText: m.tokens.eosString ?? undefined,
    addBos: m.tokens.shouldPrependBosToken,
    embeddingSize: m.embeddingVectorSize,
    embeddingOnly: !m.fileInsights.hasDecoder,
    ...vocabularyBounds(m.fileInfo.metadata.tokenizer?.ggml as VocabMetadata | undefined),
  };
}

interface VocabMetadata {
  tokens?: readonly string[];
  token_type?: readonly number[];
}

/** llama.cpp's token types that only `special: true` tokenization produces (UNKNOWN, CONTROL). */
const SPECIAL_ONLY_TYPES = new Set([2, 3]);

/**
 * Control-token texts and the longest token, from the GGUF vocabulary. A vocabulary entry is
 * the token's text as the tokenizer stores it (GPT-2's byte-level alphabet, SentencePiece's
 * "▁" and <0xNN>): never fewer UTF-8 bytes than the text it decodes to, so its length bounds
 * that text's from above.
 */
function vocabularyBounds(v: VocabMetadata | undefined): { controlTokenTexts: string[]; maxTokenBytes: number } {
  const tokens = v?.tokens ?? [];
  const types = v?.token_type ?? [];
  const controlTokenTexts: string[] = [];
  let maxTokenBytes = 1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    maxTokenBytes = Math.max(maxTokenBytes, Buffer.byteLength(t, "utf8"));
    if (SPECIAL_ONLY_TYPES.has(types[i] ?? 1) && t.length > 0) controlTokenTexts.push(t);
  }
  // no vocabulary in the metadata: nothing to bound by
  if (tokens.length === 0) maxTokenBytes = Number.POSITIVE_INFINITY;
  return { controlTokenTexts, maxTokenBytes };
}

/** "MOSTLY_Q8_0" -> "Q8_0"; the GGUF's general.file_type names the dominant quantization. */
export function quantName(fileType: number | undefined): string {
  if (fileType === undefined) return "unknown";
  const name = (GgufFileType as unknown as Record<number, string | undefined>)[fileType];
  return name === undefined ? `type ${fileType}` : name.replace(/^(MOSTLY|ALL)_/, "");
}

/** Fails with a one-line error before llama.cpp sees a missing or non-GGUF file. */
export async function checkGgufFile(path: string): Promise<void> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new InferdError("model_not_found", `model path is not a file: ${path}`);
    size = st.size;
  } catch (e) {
    if (e instanceof InferdError) throw e;
    throw new InferdError("model_not_found", `model file not found: ${path}`);
  }
  const fh = await open(path, "r");
  try {
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, 0);
    if (size < 4 || magic.toString("latin1") !== "GGUF") {
      throw new InferdError("invalid_model", `not a GGUF file: ${path}`);
    }
  } finally {
    await fh.close();
  }
}

/** `general.architecture` of a GGUF file, or undefined when it cannot be read. */
export async function readArchitecture(path: string): Promise<string | undefined> {
  try {
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
    return (info.metadata as { general?: { architecture?: string } }).general?.architecture;
  } catch {
    return undefined;
  }
}
