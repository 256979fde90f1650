import { open, mkdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { InferdError } from "../util/errors.js";
import { modelsDir } from "../util/paths.js";

/** Progress callback: bytes on disk so far (resumed bytes included) and the total when known. */
export type ProgressCallback = (received: number, total: number | undefined) => void;

export interface DownloadOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** A parsed `hf:<owner>/<repo>/<path/to/file>.gguf` spec. */
export interface HfSpec {
  owner: string;
  repo: string;
  /** Path of the file inside the repository, `/`-separated (may include subfolders). */
  file: string;
  revision: string;
}

const GGUF_MAGIC = Buffer.from("GGUF", "latin1");
// Owner and repository names on Hugging Face: letters, digits, `-`, `_`, `.` (no leading dot).
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// Network error codes that mean "the host cannot be reached".
const OFFLINE_CODES = new Set([
  "ENOTFOUND",
  "ECONNREFUSED",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/** Parses an `hf:` spec, throwing `invalid_argument` when malformed. */
export function parseHfSpec(spec: string): HfSpec {
  const bad = (why: string) =>
    new InferdError(
      "invalid_argument",
      `invalid hf: model ${JSON.stringify(spec)}: ${why}; expected hf:<owner>/<repo>/<file>.gguf`,
    );
  if (!spec.startsWith("hf:")) throw bad("missing the hf: prefix");
  const parts = spec.slice(3).split("/");
  if (parts.length < 3) throw bad("too few path parts");
  const [owner, repo, ...fileParts] = parts as [string, string, ...string[]];
  if (!NAME_RE.test(owner)) throw bad(`bad owner ${JSON.stringify(owner)}`);
  if (!NAME_RE.test(repo)) throw bad(`bad repository ${JSON.stringify(repo)}`);
  for (const p of fileParts) {
    if (p === "" || p === "." || p === ".." || p.includes("\\") || p.includes("\0")) {
      throw bad(`bad file path ${JSON.stringify(fileParts.join("/"))}`);
    }
  }
  const file = fileParts.join("/");
  if (!file.toLowerCase().endsWith(".gguf") || fileParts[fileParts.length - 1]!.length <= 5) {
    throw bad("the file must be a .gguf file");
  }
  return { owner, repo, file, revision: "main" };
}

/** The Hugging Face endpoint, read at call time: `$INFERD_HF_ENDPOINT`, `$HF_ENDPOINT`, else huggingface.co. */
export function hfEndpoint(): string {
  const e = process.env.INFERD_HF_ENDPOINT || process.env.HF_ENDPOINT || "https://huggingface.co";
  return e.replace(/\/+$/, "");
}

/** The download URL of a parsed spec. */
export function hfUrl(s: HfSpec): string {
  const file = s.file.split("/").map(encodeURIComponent).join("/");
  return `${hfEndpoint()}/${encodeURIComponent(s.owner)}/${encodeURIComponent(s.repo)}/resolve/${encodeURIComponent(s.revision)}/${file}`;
}

/** Where a spec is cached: `<modelsDir>/hf/<owner>/<repo>/<file>`. */
export function hfCachePath(s: HfSpec): string {
  return join(modelsDir(), "hf", s.owner, s.repo, ...s.file.split("/"));
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

async function hasGgufMagic(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.equals(GGUF_MAGIC);
  } finally {
    await fh.close();
  }
}

function errorCode(e: unknown): string | undefined {
  // fetch wraps network errors: TypeError("fetch failed", { cause: Error{code} }), sometimes
  // nested one more level (AggregateError for multi-address connects).
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === "object"; i++) {
    const c = cur as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof c.code === "string") return c.code;
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else cur = c.cause;
  }
  return undefined;
}

function errorReason(e: unknown): string {
  const cause = (e as { cause?: unknown })?.cause;
  const msg = cause instanceof Error && cause.message ? cause.message : e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0]!;
}

function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e instanceof Error && e.name === "AbortError");
}

/** Maps a failed `fetch()` (no response) to `offline` or `download_failed`. */
function fetchError(e: unknown, url: string, spec: string): InferdError {
  const host = new URL(url).host;
  const code = errorCode(e);
  const tls = code !== undefined && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO/.test(code);
  if (!tls && (code === undefined || OFFLINE_CODES.has(code) || String(e).includes("fetch failed"))) {
    return new InferdError("offline", `cannot reach ${host} to download ${spec} (offline?): ${errorReason(e)}`);
  }
  return new InferdError("download_failed", `cannot download ${spec}: ${errorReason(e)}: ${url}`);
}

function httpError(status: number, url: string, spec: string): InferdError {
  if (status === 404) {
    return new InferdError("model_not_found", `${spec} not found on Hugging Face (HTTP 404): ${url}`);
  }
  if (status === 401 || status === 403) {
    const hint = process.env.HF_TOKEN
      ? "the HF_TOKEN set has no access to it (gated or private repository?)"
      : "it is gated or private: set HF_TOKEN to a Hugging Face access token";
    return new InferdError("download_failed", `cannot download ${spec} (HTTP ${status}): ${hint}: ${url}`);
  }
  return new InferdError("download_failed", `cannot download ${spec}: HTTP ${status}: ${url}`);
}

/** Parses `Content-Range: bytes <start>-<end>/<total|*>` or `bytes *\/<total>` (unsatisfied range). */
function parseContentRange(h: string | null): { start?: number; total?: number } {
  if (!h) return {};
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*\/\s*(\d+|\*)\s*$/i.exec(h);
  if (!m) return {};
  return {
    start: m[1] !== undefined ? Number(m[1]) : undefined,
    total: m[3] !== undefined && m[3] !== "*" ? Number(m[3]) : undefined,
  };
}

/**
 * Downloads `hf:<owner>/<repo>/<file>.gguf` (revision "main") into the model cache and returns
 * its path. Returns at once, without network, when the file is already cached. Downloads into
 * `<dest>.partial` (resumed with a Range request on the next call after an interruption), checks
 * the size and the GGUF magic, then renames it atomically: the final path only ever holds a
 * complete file.
 */
export async function downloadHf(spec: string, opts: DownloadOptions = {}): Promise<string> {
  const parsed = parseHfSpec(spec);
  const dest = hfCachePath(parsed);
  if ((await fileSize(dest)) !== undefined) return dest;

  const url = hfUrl(parsed);
  const partial = `${dest}.partial`;
  const { signal, onProgress } = opts;
  await mkdir(dirname(dest), { recursive: true });

  const aborted = () =>
    new InferdError("aborted", `download of ${spec} aborted (partial file kept for resume: ${partial})`);
  const notGguf = async () => {
    await removeFile(partial);
    return new InferdError("invalid_model", `${spec} is not a GGUF file (bad magic), deleted: ${url}`);
  };

  // A stale partial that does not even start with the magic is useless for resuming.
  let offset = (await fileSize(partial)) ?? 0;
  if (offset >= 4 && !(await hasGgufMagic(partial))) {
    await removeFile(partial);
    offset = 0;
  }

  // At most one restart (server ignored/refused the Range, or sent the wrong range).
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw aborted();
    const headers: Record<string, string> = { "Accept-Encoding": "identity", "User-Agent": "inferd" };
    if (process.env.HF_TOKEN) headers.Authorization = `Bearer ${process.env.HF_TOKEN}`;
    if (offset > 0) headers.Range = `bytes=${offset}-`;

    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: "follow", signal });
    } catch (e) {
      if (isAbort(e, signal)) throw aborted();
      throw fetchError(e, url, spec);
    }

    let total: number | undefined;
    let append: boolean;
    if (res.status === 416 && offset > 0) {
      // Range not satisfiable: the partial is complete (size == total) or stale.
      await res.body?.cancel().catch(() => {});
      const { total: t } = parseContentRange(res.headers.get("content-range"));
      if (t !== undefined && t === offset) {
        total = t;
        return finish(total);
      }
      if (attempt > 0) throw new InferdError("download_failed", `cannot download ${spec}: HTTP 416: ${url}`);
      await removeFile(partial);
      offset = 0;
      continue;
    } else if (res.status === 206) {
      const cr = parseContentRange(res.headers.get("content-range"));
      if (cr.start !== offset) {
        await res.body?.cancel().catch(() => {});
        if (attempt > 0) {
          throw new InferdError("download_failed", `cannot download ${spec}: server sent an unexpected range: ${url}`);
        }
        await removeFile(partial);
        offset = 0;
        continue;
      }
      total = cr.total;
      append = true;
    } else if (res.ok) {
      // 200: the whole file (a server that ignores Range restarts us from zero).
      offset = 0;
      append = false;
      const len = res.headers.get("content-length");
      const enc = res.headers.get("content-encoding");
      if (len !== null && /^\d+$/.test(len) && (!enc || enc === "identity")) total = Number(len);
    } else {
      await res.body?.cancel().catch(() => {});
      throw httpError(res.status, url, spec);
    }

    if (!res.body) throw new InferdError("download_failed", `cannot download ${spec}: empty response: ${url}`);

    let received = offset;
    const fh = await open(partial, append ? "a" : "w");
    let badMagic = false;
    try {
      const head: Buffer[] = [];
      let headLen = offset; // bytes already checked (a resumed partial was checked above)
      onProgress?.(received, total);
      for await (const chunk of res.body) {
        const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (headLen < 4) {
          head.push(buf);
          headLen += buf.length;
          if (headLen >= 4) {
            const first = Buffer.concat(head).subarray(0, 4);
            if (!first.equals(GGUF_MAGIC)) {
              badMagic = true;
              break; // cancels the response body
            }
          }
        }
        await fh.write(buf);
        received += buf.length;
        onProgress?.(received, total);
      }
      if (!badMagic) await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      if (isAbort(e, signal)) throw aborted();
      throw new InferdError(
        "download_failed",
        `download of ${spec} interrupted after ${received} bytes (${errorReason(e)}); run again to resume: ${url}`,
      );
    }
    await fh.close();
    if (badMagic) throw await notGguf();
    return finish(total);
  }

  async function finish(total: number | undefined): Promise<string> {
    const size = (await fileSize(partial)) ?? 0;
    if (total !== undefined && size !== total) {
      if (size > total) await removeFile(partial);
      throw new InferdError(
        "download_failed",
        `download of ${spec} is incomplete: got ${size} of ${total} bytes${size < total ? "; run again to resume" : ""}: ${url}`,
      );
    }
    if (!(await hasGgufMagic(partial))) throw await notGguf();
    await rename(partial, dest);
    onProgress?.(size, size);
    return dest;
  }
}

const MB = 1_000_000;

/** A progress callback that draws on stderr; call `done()` to end the line. */
export type ProgressBar = ProgressCallback & { done(): void };

/**
 * A progress callback drawing a one-line bar (percent, MB, MB/s) on stderr when it is a TTY;
 * otherwise it prints at most one line per 10% step (nothing when the total is unknown).
 * Never writes to stdout.
 */
export function createProgressBar(label: string): ProgressBar {
  const err = process.stderr;
  const tty = err.isTTY === true;
  let start: { t: number; bytes: number } | undefined;
  let lastDraw = 0;
  let lastStep = -1;
  let drawn = false;
  let finished = false;

  const line = (received: number, total: number | undefined): string => {
    const secs = start ? (Date.now() - start.t) / 1000 : 0;
    const rate = secs > 0.2 && start ? (received - start.bytes) / MB / secs : undefined;
    const speed = rate !== undefined ? ` ${rate.toFixed(1)} MB/s` : "";
    if (total === undefined || total <= 0) return `${label} ${(received / MB).toFixed(1)} MB${speed}`;
    const frac = Math.min(1, received / total);
    const pct = `${Math.floor(frac * 100)}`.padStart(3);
    const sizes = `${(received / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB`;
    const width = Math.max(10, Math.min(30, (err.columns ?? 80) - label.length - sizes.length - speed.length - 12));
    const filled = Math.round(frac * width);
    return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}% ${sizes}${speed}`;
  };

  const bar = ((received: number, total: number | undefined) => {
    if (finished) return;
    const now = Date.now();
    if (!start) start = { t: now, bytes: received };
    const complete = total !== undefined && received >= total;
    if (tty) {
      if (!complete && now - lastDraw < 100) return;
      lastDraw = now;
      err.write(`\r${line(received, total)}\x1b[K`);
      drawn = true;
      if (complete) bar.done();
      return;
    }
    if (total === undefined || total <= 0) return;
    const step = Math.min(10, Math.floor((received / total) * 10));
    if (step <= lastStep) return;
    lastStep = step;
    err.write(`${line(received, total)}\n`);
    if (complete) finished = true;
  }) as ProgressBar;
  bar.done = () => {
    if (tty && drawn && !finished) err.write("\n");
    finished = true;
  };
  return bar;
}
