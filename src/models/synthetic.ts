/**
 * Synthetic GGUF models of realistic shape (SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B) with
 * seeded random weights, for speed and memory work where no trained model of that size exists.
 * Speed does not depend on the weights' values; the values are kept small (about N(0, 0.02)) so
 * the forward pass stays finite. The tokenizer is copied from a real vocabulary-only GGUF in the
 * shared models folder when present, else a built-in byte-level vocabulary is used.
 */
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { InferdError } from "../util/errors.js";
import { modelsDir } from "../util/paths.js";
import { GGML_TYPE, planGguf, tensorByteSize, writeGguf, type GgmlTypeId, type GgufMetadata, type GgufTensor, type GgufValue } from "./gguf-writer.js";
import { f32, loadTokenizer, str, u32 } from "./synthetic-vocab.js";

export { CHATML_TEMPLATE } from "./synthetic-vocab.js";

export interface SyntheticShape {
  arch: "llama" | "qwen2";
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nVocab: number;
  nCtx: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** q/k/v projections have f32 biases (Qwen2). */
  qkvBias: boolean;
  /** Vocabulary-only GGUF in `<shared>/vocab/` whose tokenizer the model uses. */
  vocabFile: string;
  /** Weights are seeded by this name instead of the shape's, so two shapes can share them. */
  weightsOf?: string;
  /**
   * Layers from this index on write almost nothing into the residual stream (their output
   * projections are scaled by 1e-3): the model computes nearly what its first layers alone
   * compute. With `weightsOf`, this builds a target that a shallower draft model agrees with.
   */
  quietFrom?: number;
  /**
   * An untied output head whose row s is token s-1's embedding: with every layer quiet
   * (`quietFrom: 0`), the greedy next token after t is t+1, so the model's output is a long
   * chain that never repeats, and a passage of that chain in the prompt is text it reproduces
   * (prompt lookup's copy-heavy case, at a real model's cost per token).
   */
  successorHead?: boolean;
}

const SMOLLM2_135M: SyntheticShape = {
  arch: "llama", nEmbd: 576, nLayer: 30, nHead: 9, nHeadKv: 3, nFf: 1536, nVocab: 49152, nCtx: 8192,
  ropeFreqBase: 100000, rmsEps: 1e-5, qkvBias: false, vocabFile: "ggml-vocab-starcoder.gguf",
};

export const SYNTHETIC_SHAPES: Readonly<Record<string, Readonly<SyntheticShape>>> = {
  "smollm2-135m": SMOLLM2_135M,
  // a speculative-decoding pair: the draft is the target's first 4 layers; the target's other 26 barely change its output
  "spec-draft-135m": { ...SMOLLM2_135M, nLayer: 4, weightsOf: "spec-135m" },
  "spec-target-135m": { ...SMOLLM2_135M, weightsOf: "spec-135m", quietFrom: 4 },
  // SmolLM2-135M's shape and cost whose greedy output is the chain t -> t+1 (see successorHead)
  "chain-135m": { ...SMOLLM2_135M, quietFrom: 0, successorHead: true },
  "qwen2.5-0.5b": {
    arch: "qwen2", nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, nFf: 4864, nVocab: 151936, nCtx: 32768,
    ropeFreqBase: 1000000, rmsEps: 1e-6, qkvBias: true, vocabFile: "ggml-vocab-gpt-2.gguf",
  },
  "llama3.2-1b": {
    arch: "llama", nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192, nVocab: 128256, nCtx: 131072,
    ropeFreqBase: 500000, rmsEps: 1e-5, qkvBias: false, vocabFile: "ggml-vocab-gpt-2.gguf",
  },
};

export type SyntheticQuant = "f16" | "q8_0" | "q4_0";
const QUANTS: Record<SyntheticQuant, { type: GgmlTypeId; fileType: number }> = {
  f16: { type: GGML_TYPE.F16, fileType: 1 },
  q8_0: { type: GGML_TYPE.Q8_0, fileType: 7 },
  q4_0: { type: GGML_TYPE.Q4_0, fileType: 2 },
};
const DEFAULT_QUANT: SyntheticQuant = "q8_0";


/** Parse `synthetic:<shape>[-<quant>]` (prefix optional); throws InferdError("invalid_argument"). */
export function parseSyntheticSpec(spec: string): { shape: string; quant: SyntheticQuant; params: Readonly<SyntheticShape> } {
  const s = spec.startsWith("synthetic:") ? spec.slice("synthetic:".length) : spec;
  for (const [shape, params] of Object.entries(SYNTHETIC_SHAPES)) {
    if (s === shape) return { shape, quant: DEFAULT_QUANT, params };
    const quant = s.startsWith(shape + "-") ? s.slice(shape.length + 1) : undefined;
    if (quant !== undefined && Object.hasOwn(QUANTS, quant)) return { shape, quant: quant as SyntheticQuant, params };
  }
  throw new InferdError(
    "invalid_argument",
    `unknown synthetic shape "${s}"; known: ${Object.keys(SYNTHETIC_SHAPES).join(", ")} (quants ${Object.keys(QUANTS).join(", ")})`,
  );
}

// ---- random weights ------------------------------------------------------------------------

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/** A xorshift32 stream; fills buffers with random bytes fast. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (this.s = x >>> 0);
  }
  fillBytes(buf: Buffer): void {
    const n4 = buf.length >>> 2;
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset, n4);
    let x = this.s;
    for (let i = 0; i < n4; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; u32[i] = x; }
    this.s = x >>> 0;
    for (let i = n4 * 4; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }
}

/** float -> IEEE half bits (round to nearest, subnormals kept). */
export function toF16(x: number): number {
  const sign = x < 0 ? 0x8000 : 0;
  x = Math.abs(x);
  if (x === 0) return sign;
  if (x < 2 ** -14) return sign | Math.round(x / 2 ** -24);
  let e = Math.floor(Math.log2(x));
  let m = Math.round((x / 2 ** e - 1) * 1024);
  if (m === 1024) { m = 0; e++; }
  return e > 15 ? sign | 0x7c00 : sign | ((e + 15) << 10) | m;
}

const STD = 0.02;
// q8_0: q uniform in [-128, 127] (std ~73.9); q4_0: nibble - 8 in [-8, 7] (std ~4.61).
const SCALE_BITS: Partial<Record<GgmlTypeId, number>> = {
  [GGML_TYPE.Q8_0]: toF16(STD / 73.9),
  [GGML_TYPE.Q4_0]: toF16(STD / 4.61),
};
let f16Table: Uint16Array | undefined;
function f16Uniform(): Uint16Array {
  if (!f16Table) {
    const a = STD * Math.sqrt(3); // uniform in [-a, a] has std STD
    f16Table = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = toF16(((i + 0.5) / 65536) * 2 * a - a);
  }
  return f16Table;
}

/** Buffers handed to fill() start at byte offset 0 of their ArrayBuffer (the writer allocates them so). */
function weightFill(type: GgmlTypeId, seed: string, gain = 1): GgufTensor["fill"] {
  const rng = new Rng(fnv1a(seed));
  if (type === GGML_TYPE.F16) {
    const base = f16Uniform();
    const table = gain === 1 ? base : Uint16Array.from(base, (_, i) => toF16((((i + 0.5) / 65536) * 2 - 1) * STD * Math.sqrt(3) * gain));
    return (buf) => {
      const u16 = new Uint16Array(buf.buffer, buf.byteOffset, buf.length >>> 1);
      for (let i = 0; i < u16.length; i += 2) {
        const r = rng.next();
        u16[i] = table[r & 0xffff]!;
        if (i + 1 < u16.length) u16[i + 1] = table[r >>> 16]!;
      }
    };
  }
  const scale = gain === 1 ? SCALE_BITS[type]! : toF16((STD * gain) / (type === GGML_TYPE.Q8_0 ? 73.9 : 4.61));
  const blk = type === GGML_TYPE.Q8_0 ? 34 : 18;
  return (buf) => {
    rng.fillBytes(buf);
    const u16 = new Uint16Array(buf.buffer, buf.byteOffset, buf.length >>> 1);
    for (let k = 0; k < buf.length; k += blk) u16[k >>> 1] = scale;
  };
}

const f32Const = (v: number): GgufTensor["fill"] => (buf) =>
  new Float32Array(buf.buffer, buf.byteOffset, buf.length >>> 2).fill(v);
function f32Small(seed: string): GgufTensor["fill"] {
  const rng = new Rng(fnv1a(seed));
  return (buf) => {
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let i = 0; i < f.length; i++) f[i] = (rng.next() / 2 ** 32 - 0.5) * 0.02;
  };
}

function buildTensors(shape: string, quant: SyntheticQuant, p: SyntheticShape): GgufTensor[] {
  const wt = QUANTS[quant].type;
  const headDim = p.nEmbd / p.nHead, kvDim = headDim * p.nHeadKv;
  const seed = `${p.weightsOf ?? shape}-${quant}-`;
  const w = (name: string, dims: number[], gain = 1): GgufTensor => ({ name, dims, type: wt, fill: weightFill(wt, seed + name, gain) });
  const norm = (name: string, n: number): GgufTensor => ({ name, dims: [n], type: GGML_TYPE.F32, fill: f32Const(1) });
  const bias = (name: string, n: number): GgufTensor => ({ name, dims: [n], type: GGML_TYPE.F32, fill: f32Small(seed + name) });
  const out: GgufTensor[] = [w("token_embd.weight", [p.nEmbd, p.nVocab])];
  for (let i = 0; i < p.nLayer; i++) {
    const b = `blk.${i}.`;
    const gain = p.quietFrom !== undefined && i >= p.quietFrom ? 1e-3 : 1;
    out.push(norm(b + "attn_norm.weight", p.nEmbd));
    out.push(w(b + "attn_q.weight", [p.nEmbd, p.nEmbd]));
    out.push(w(b + "attn_k.weight", [p.nEmbd, kvDim]));
    out.push(w(b + "attn_v.weight", [p.nEmbd, kvDim]));
    if (p.qkvBias) out.push(bias(b + "attn_q.bias", p.nEmbd), bias(b + "attn_k.bias", kvDim), bias(b + "attn_v.bias", kvDim));
    out.push(w(b + "attn_output.weight", [p.nEmbd, p.nEmbd], gain));
    out.push(norm(b + "ffn_norm.weight", p.nEmbd));
    out.push(w(b + "ffn_gate.weight", [p.nEmbd, p.nFf]));
    out.push(w(b + "ffn_up.weight", [p.nEmbd, p.nFf]));
    out.push(w(b + "ffn_down.weight", [p.nFf, p.nEmbd], gain));
  }
  out.push(norm("output_norm.weight", p.nEmbd));
  if (p.successorHead) {
    const [embd, output] = successorHead(out[0]!, p.nEmbd, p.nVocab);
    out[0] = embd;
    out.push(output);
  }
  // otherwise tied embeddings: no output.weight
  return out;
}

/**
 * Makes `embd` and a new `output.weight` share rows: output row s = embedding row s-1 (mod
 * vocab), so the logit of t+1 after token t is t's embedding against itself, far above any
 * other. The embedding is generated whole on first use (tens of MB), so both can copy from it.
 */
function successorHead(embd: GgufTensor, nEmbd: number, nVocab: number): [GgufTensor, GgufTensor] {
  const rowBytes = tensorByteSize({ dims: [nEmbd, 1], type: embd.type });
  let rows: Buffer | undefined;
  const all = (): Buffer => {
    if (rows === undefined) {
      rows = Buffer.from(new ArrayBuffer(rowBytes * nVocab));
      embd.fill(rows, 0);
    }
    return rows;
  };
  const output: GgufTensor = {
    name: "output.weight",
    dims: [nEmbd, nVocab],
    type: embd.type,
    fill: (buf, offset) => {
      const src = all();
      for (let done = 0; done < buf.length; ) {
        const at = offset + done;
        const row = Math.floor(at / rowBytes), within = at % rowBytes;
        const from = ((row + nVocab - 1) % nVocab) * rowBytes + within;
        const n = Math.min(rowBytes - within, buf.length - done);
        src.copy(buf, done, from, from + n);
        done += n;
      }
    },
  };
  return [{ ...embd, fill: (buf, offset) => void all().copy(buf, 0, offset, offset + buf.length) }, output];
}

// ---- assembling ----------------------------------------------------------------------------

function buildMetadata(shape: string, quant: SyntheticQuant, p: SyntheticShape, tok: GgufMetadata, tag: string): GgufMetadata {
  const a = p.arch;
  return new Map<string, GgufValue>([
    ["general.architecture", str(a)],
    ["general.name", str(`synthetic ${shape} ${quant}`)],
    ["general.file_type", u32(QUANTS[quant].fileType)],
    ["general.quantization_version", u32(2)],
    ["general.alignment", u32(32)],
    ["inferd.synthetic.vocab", str(tag)],
    [`${a}.context_length`, u32(p.nCtx)],
    [`${a}.embedding_length`, u32(p.nEmbd)],
    [`${a}.block_count`, u32(p.nLayer)],
    [`${a}.feed_forward_length`, u32(p.nFf)],
    [`${a}.attention.head_count`, u32(p.nHead)],
    [`${a}.attention.head_count_kv`, u32(p.nHeadKv)],
    [`${a}.rope.freq_base`, f32(p.ropeFreqBase)],
    [`${a}.rope.dimension_count`, u32(p.nEmbd / p.nHead)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(p.rmsEps)],
    [`${a}.vocab_size`, u32(p.nVocab)],
    ...tok,
  ]);
}

const pending = new Map<string, Promise<string>>();

/**
 * Path of the synthetic model `spec` (`synthetic:<shape>[-<quant>]`, prefix optional), writing it
 * into `<modelsDir>/synthetic/` first unless a file of the expected size is already there.
 * `onProgress` reports bytes written while a file is being generated.
 */
export async function ensureSyntheticModel(
  spec: string,
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<string> {
  const { shape, quant, params } = parseSyntheticSpec(spec);
  const { tag, meta: tok } = await loadTokenizer(params);
  const dir = join(modelsDir(), "synthetic");
  const path = join(dir, `synthetic-${shape}-${quant}-${tag}.gguf`);
  const inFlight = pending.get(path);
  if (inFlight) return inFlight;
  const job = (async () => {
    const metadata = buildMetadata(shape, quant, params, tok, tag);
    const tensors = buildTensors(shape, quant, params);
    const expected = planGguf(metadata, tensors).totalSize;
    const size = await stat(path).then((s) => s.size, () => -1);
    if (size === expected) return path;
    await mkdir(dir, { recursive: true });
    await writeGguf(path, metadata, tensors, { onProgress: opts.onProgress });
    return path;
  })();
  pending.set(path, job);
  try {
    return await job;
  } finally {
    pending.delete(path);
  }
}
