import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { modelsDir } from "../util/paths.js";

export interface CachedModel {
  /** `hf:<owner>/<repo>/<file>.gguf`, `synthetic:<name>`, or the absolute path for other files. */
  name: string;
  path: string;
  sizeBytes: number;
  /** e.g. "F32", "Q4_K_M"; undefined when the file cannot be parsed or does not say. */
  quantization: string | undefined;
  /** `general.architecture`, e.g. "llama"; undefined when the file cannot be parsed. */
  architecture: string | undefined;
}

// Large arrays we never need here: skip storing them while parsing the header.
const IGNORED_KEYS = [
  "tokenizer.ggml.tokens",
  "tokenizer.ggml.scores",
  "tokenizer.ggml.token_type",
  "tokenizer.ggml.merges",
];

function isModelFile(name: string): boolean {
  return (
    name.toLowerCase().endsWith(".gguf") &&
    !name.startsWith(".") && // hidden / temp files
    !name.includes(".partial") &&
    !name.includes(".tmp")
  );
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EACCES") return;
    throw e;
  }
  for (const ent of entries) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (!ent.name.startsWith(".")) await walk(p, out);
    } else if (isModelFile(ent.name)) {
      if (ent.isFile()) out.push(p);
      else if (ent.isSymbolicLink()) {
        const st = await stat(p).catch(() => undefined);
        if (st?.isFile()) out.push(p);
      }
    }
  }
}

function modelName(root: string, path: string): string {
  const parts = relative(root, path).split(sep);
  if (parts[0] === "hf" && parts.length >= 4) return `hf:${parts.slice(1).join("/")}`;
  if (parts[0] === "synthetic" && parts.length >= 2) {
    return `synthetic:${parts.slice(1).join("/").replace(/\.gguf$/i, "")}`;
  }
  return path;
}

/** Maps a `general.file_type` value to a quantization name ("F32", "Q4_K_M", ...). */
export function fileTypeName(
  fileType: number | undefined,
  names: Record<number, string | undefined>,
): string | undefined {
  if (fileType === undefined || typeof fileType !== "number") return undefined;
  const enumName = names[fileType];
  return enumName ? enumName.replace(/^(ALL|MOSTLY)_/, "") : undefined;
}

/**
 * Every `*.gguf` file under `modelsDir()` (recursively; `.partial` and temp files ignored), with
 * its size and the quantization and architecture read from its GGUF header. A file that fails
 * to parse is listed with `quantization` and `architecture` undefined. Sorted by name.
 */
export async function listCachedModels(): Promise<CachedModel[]> {
  const root = modelsDir();
  const files: string[] = [];
  await walk(root, files);
  if (files.length === 0) return [];

  // Loaded lazily: node-llama-cpp is heavy and only needed when there is something to read.
  const { readGgufFileInfo, GgufFileType } = await import("node-llama-cpp");
  const names = GgufFileType as unknown as Record<number, string | undefined>;

  const out: CachedModel[] = [];
  for (const path of files) {
    const st = await stat(path).catch(() => undefined);
    if (!st) continue; // removed meanwhile
    let quantization: string | undefined;
    let architecture: string | undefined;
    try {
      const info = await readGgufFileInfo(path, {
        readTensorInfo: false,
        sourceType: "filesystem",
        logWarnings: false,
        ignoreKeys: IGNORED_KEYS,
      });
      const general = info.metadata?.general as { architecture?: unknown; file_type?: unknown } | undefined;
      architecture = typeof general?.architecture === "string" ? general.architecture : undefined;
      quantization = fileTypeName(typeof general?.file_type === "number" ? general.file_type : undefined, names);
    } catch {
      // not a parsable GGUF: list it without metadata
    }
    out.push({ name: modelName(root, path), path, sizeBytes: st.size, quantization, architecture });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** Human-readable size with SI units: "512 B", "1.5 kB", "27.3 MB", "4.1 GB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const neg = n < 0;
  let v = Math.abs(n);
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  // Move up a unit when the value would display as "1000" after rounding.
  while (i < units.length - 1 && (i === 0 ? v >= 1000 : v >= 999.5)) {
    v /= 1000;
    i++;
  }
  const s = i === 0 ? `${Math.round(v)}` : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return `${neg ? "-" : ""}${s} ${units[i]}`;
}
