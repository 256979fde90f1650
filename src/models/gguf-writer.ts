/**
 * A small GGUF v3 writer (and metadata reader). The writer streams: the header (metadata and
 * tensor infos) is serialized in memory, tensor data is generated chunk by chunk by a callback,
 * so files of several GB never sit in memory. It writes `<path>.tmp-<pid>` then renames it into
 * place; on any error the temporary file is removed.
 */
import { open, readFile, rename, rm } from "node:fs/promises";

/** GGUF metadata value types. */
export const GGUF_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<(typeof GGUF_TYPE)[keyof typeof GGUF_TYPE], 9>;
export type GgufScalar = number | bigint | boolean | string;

/** One metadata value: a scalar of `type`, or (type ARRAY) a list of `itemType` scalars. */
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 9; itemType: GgufScalarType; value: readonly GgufScalar[] };
export type GgufMetadata = Map<string, GgufValue>;

/** ggml tensor types this writer knows the block layout of. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlTypeId = (typeof GGML_TYPE)[keyof typeof GGML_TYPE];
/** Bytes per block and values per block of each type. */
export const GGML_BLOCK: Record<GgmlTypeId, { bytes: number; values: number }> = {
  0: { bytes: 4, values: 1 }, 1: { bytes: 2, values: 1 }, 2: { bytes: 18, values: 32 }, 8: { bytes: 34, values: 32 },
};

export interface GgufTensor {
  name: string;
  /** ne0 first (the fastest-varying dimension), as in ggml. */
  dims: readonly number[];
  type: GgmlTypeId;
  /** Fill `buf` with the tensor's bytes starting at byte `offset`; `buf.length` is a multiple of the block size. */
  fill: (buf: Buffer, offset: number) => void;
}

export function tensorByteSize(t: Pick<GgufTensor, "dims" | "type">): number {
  const b = GGML_BLOCK[t.type];
  if (t.dims[0]! % b.values !== 0) throw new Error(`tensor ne0 ${t.dims[0]} not a multiple of ${b.values}`);
  return (t.dims.reduce((a, d) => a * d, 1) / b.values) * b.bytes;
}

const padTo = (n: number, align: number) => Math.ceil(n / align) * align;

/** Serializes little-endian GGUF values into one growing buffer. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  push(b: Buffer): void { this.ensure(b.length); b.copy(this.buf, this.length); this.length += b.length; }
  num(type: GgufScalarType, v: GgufScalar): void {
    if (type === GGUF_TYPE.STRING) {
      const s = String(v), n = Buffer.byteLength(s, "utf8");
      this.num(GGUF_TYPE.UINT64, BigInt(n));
      this.ensure(n);
      this.length += this.buf.write(s, this.length, "utf8");
      return;
    }
    this.ensure(8);
    const b = this.buf, p = this.length;
    switch (type) {
      case 0: this.length = b.writeUInt8(Number(v), p); break;
      case 1: this.length = b.writeInt8(Number(v), p); break;
      case 2: this.length = b.writeUInt16LE(Number(v), p); break;
      case 3: this.length = b.writeInt16LE(Number(v), p); break;
      case 4: this.length = b.writeUInt32LE(Number(v), p); break;
      case 5: this.length = b.writeInt32LE(Number(v), p); break;
      case 6: this.length = b.writeFloatLE(Number(v), p); break;
      case 7: this.length = b.writeUInt8(v ? 1 : 0, p); break;
      case 10: this.length = b.writeBigUInt64LE(BigInt(v), p); break;
      case 11: this.length = b.writeBigInt64LE(BigInt(v), p); break;
      case 12: this.length = b.writeDoubleLE(Number(v), p); break;
    }
  }
  concat(): Buffer { return this.buf.subarray(0, this.length); }
}

/** The serialized header and the layout of a GGUF file, without writing anything. */
export function planGguf(metadata: GgufMetadata, tensors: readonly GgufTensor[]) {
  const alignEntry = metadata.get("general.alignment");
  const alignment = alignEntry ? Number(alignEntry.value) : 32;
  const w = new ByteWriter();
  w.push(Buffer.from("GGUF", "latin1"));
  w.num(GGUF_TYPE.UINT32, 3);
  w.num(GGUF_TYPE.UINT64, BigInt(tensors.length));
  w.num(GGUF_TYPE.UINT64, BigInt(metadata.size));
  for (const [key, v] of metadata) {
    w.num(GGUF_TYPE.STRING, key);
    w.num(GGUF_TYPE.UINT32, v.type);
    if (v.type === GGUF_TYPE.ARRAY) {
      w.num(GGUF_TYPE.UINT32, v.itemType);
      w.num(GGUF_TYPE.UINT64, BigInt(v.value.length));
      for (const item of v.value) w.num(v.itemType, item);
    } else w.num(v.type, v.value);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    w.num(GGUF_TYPE.STRING, t.name);
    w.num(GGUF_TYPE.UINT32, t.dims.length);
    for (const d of t.dims) w.num(GGUF_TYPE.UINT64, BigInt(d));
    w.num(GGUF_TYPE.UINT32, t.type);
    w.num(GGUF_TYPE.UINT64, BigInt(offset));
    const size = tensorByteSize(t);
    sizes.push(size);
    offset += padTo(size, alignment);
  }
  w.push(Buffer.alloc(padTo(w.length, alignment) - w.length));
  const header = w.concat();
  return { header, alignment, tensorSizes: sizes, totalSize: header.length + offset };
}

/** Write a GGUF file atomically; returns its size in bytes. */
export async function writeGguf(
  path: string,
  metadata: GgufMetadata,
  tensors: readonly GgufTensor[],
  opts: { onProgress?: (done: number, total: number) => void; chunkBytes?: number } = {},
): Promise<number> {
  const { header, alignment, tensorSizes, totalSize } = planGguf(metadata, tensors);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    let done = 0;
    const write = async (b: Buffer) => {
      for (let off = 0; off < b.length; ) off += (await fh.write(b, off, b.length - off)).bytesWritten;
      done += b.length;
      opts.onProgress?.(done, totalSize);
    };
    await write(header);
    const target = opts.chunkBytes ?? 4 << 20;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!, size = tensorSizes[i]!;
      const blk = GGML_BLOCK[t.type].bytes;
      const chunk = Math.max(blk, Math.floor(target / (blk * 8)) * blk * 8); // also a multiple of 8 for typed views
      const buf = Buffer.from(new ArrayBuffer(Math.min(chunk, padTo(size, 8))));
      for (let off = 0; off < size; off += buf.length) {
        const view = buf.subarray(0, Math.min(buf.length, size - off));
        t.fill(view, off);
        await write(view);
      }
      if (padTo(size, alignment) > size) await write(Buffer.alloc(padTo(size, alignment) - size));
    }
    await fh.close();
    if (done !== totalSize) throw new Error(`wrote ${done} bytes, expected ${totalSize}`);
    await rename(tmp, path);
    return totalSize;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Read the metadata key/values of a GGUF file (v2/v3), keeping each value's type. */
export async function readGgufMetadata(path: string): Promise<GgufMetadata> {
  const buf = await readFile(path); // used for small (vocab-only) files
  let p = 0;
  const u32 = () => { p += 4; return buf.readUInt32LE(p - 4); };
  const u64 = () => { p += 8; return buf.readBigUInt64LE(p - 8); };
  const scalar = (type: number): GgufScalar => {
    switch (type) {
      case 0: return buf.readUInt8(p++);
      case 1: return buf.readInt8(p++);
      case 2: p += 2; return buf.readUInt16LE(p - 2);
      case 3: p += 2; return buf.readInt16LE(p - 2);
      case 4: return u32();
      case 5: p += 4; return buf.readInt32LE(p - 4);
      case 6: p += 4; return buf.readFloatLE(p - 4);
      case 7: return buf.readUInt8(p++) !== 0;
      case 8: { const n = Number(u64()); p += n; return buf.toString("utf8", p - n, p); }
      case 10: return u64();
      case 11: p += 8; return buf.readBigInt64LE(p - 8);
      case 12: p += 8; return buf.readDoubleLE(p - 8);
      default: throw new Error(`unknown GGUF value type ${type}`);
    }
  };
  if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${path}: not a GGUF file`);
  p = 4;
  const version = u32();
  if (version < 2) throw new Error(`${path}: GGUF version ${version} unsupported`);
  u64(); // tensor count
  const n = Number(u64());
  const out: GgufMetadata = new Map();
  for (let i = 0; i < n; i++) {
    const key = scalar(8) as string;
    const type = u32();
    if (type === GGUF_TYPE.ARRAY) {
      const itemType = u32() as GgufScalarType;
      const len = Number(u64());
      const value: GgufScalar[] = new Array(len);
      for (let j = 0; j < len; j++) value[j] = scalar(itemType);
      out.set(key, { type: 9, itemType, value });
    } else out.set(key, { type: type as GgufScalarType, value: scalar(type) });
  }
  return out;
}
