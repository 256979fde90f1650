/**
 * The second KV tier: prefixes evicted from the slots are saved as llama.cpp sequence-state
 * files (a folder on disk, or on a RAM filesystem such as /dev/shm) under a size budget, and
 * restored instead of recomputed when that is measured to be faster. Each state file has a
 * sidecar naming the model it belongs to, its tokens and its SHA-256: a state of another model
 * is never indexed, and a corrupt one is detected before loading, deleted and recomputed.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Backend } from "../backend/backend.js";
import type { CostModel } from "./cost-model.js";
import type { PrefixTier, StoredPrefix } from "./kv-ops.js";
import { PrefixIndex } from "./prefix-index.js";

interface Sidecar {
  version: 1;
  model: string;
  tokens: number[];
  bytes: number;
  sha256: string;
}

interface Stored extends StoredPrefix {
  readonly sidecar: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Prefixes shorter than this are cheaper to recompute than to keep on disk. */
export const MIN_SAVED_TOKENS = 64;

export class StateStore implements PrefixTier {
  private readonly index = new PrefixIndex<Stored>();
  private bytes = 0;

  private constructor(
    readonly dir: string,
    readonly budgetBytes: number,
    /** Identifies the model (and KV layout) a state belongs to. */
    readonly model: string,
    private readonly cost: CostModel,
  ) {}

  /** Opens the folder, indexing the states of this model that are already there. */
  static async open(dir: string, budgetBytes: number, model: string, cost: CostModel): Promise<StateStore> {
    const store = new StateStore(dir, budgetBytes, model, cost);
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".json")) continue;
      const sidecar = join(dir, name);
      const meta = await readFile(sidecar, "utf8").then((t) => JSON.parse(t) as Sidecar, () => undefined);
      if (meta?.version !== 1 || meta.model !== model) continue; // another model's, or not ours: leave it
      const file = sidecar.replace(/\.json$/, ".state");
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size !== meta.bytes) {
        await store.remove({ file, sidecar });
        continue;
      }
      store.add({ tokens: meta.tokens, file, sidecar, bytes: meta.bytes, sha256: meta.sha256, lastUsed: 0 });
    }
    await store.enforceBudget();
    return store;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.index.size, bytes: this.bytes };
  }

  longest(tokens: readonly number[]): { entry: StoredPrefix; length: number } | undefined {
    return this.index.longest(tokens);
  }

  worthRestoring(length: number, resident: number): boolean {
    return this.cost.restoreBeatsRecompute(length, resident);
  }

  worthSaving(tokens: readonly number[]): boolean {
    if (tokens.length < MIN_SAVED_TOKENS || this.budgetBytes <= 0) return false;
    if ((this.index.longest(tokens)?.length ?? 0) >= tokens.length) return false; // already saved
    return this.cost.restoreBeatsRecompute(tokens.length, 0);
  }

  /** Saves `seq`'s KV for `tokens`. Failures lose a cache entry, never a request: they are reported, not thrown. */
  async save(backend: Backend, seq: number, tokens: readonly number[]): Promise<boolean> {
    const name = createHash("sha256").update(this.model).update(Uint32Array.from(tokens)).digest("hex").slice(0, 32);
    const file = join(this.dir, `${name}.state`);
    const sidecar = join(this.dir, `${name}.json`);
    try {
      await backend.saveSequence(seq, file, tokens);
      const data = await readFile(file);
      const meta: Sidecar = { version: 1, model: this.model, tokens: [...tokens], bytes: data.length, sha256: sha256(data) };
      // the sidecar appears whole or not at all: a crash mid-write leaves no half-entry
      await writeFile(`${sidecar}.tmp`, JSON.stringify(meta));
      await rename(`${sidecar}.tmp`, sidecar);
      this.add({ tokens: meta.tokens, file, sidecar, bytes: meta.bytes, sha256: meta.sha256, lastUsed: Date.now() });
      await this.enforceBudget();
      return true;
    } catch (e) {
      process.stderr.write(`[inferd] cannot save a KV state to ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
      await this.remove({ file, sidecar });
      return false;
    }
  }

  /**
   * Loads a saved state into `seq` after checking it is intact (checksum, tokens). On any
   * problem the entry is deleted and false returned: the caller recomputes.
   */
  async restore(backend: Backend, seq: number, entry: StoredPrefix): Promise<boolean> {
    const s = entry as Stored;
    const t0 = performance.now();
    try {
      const data = await readFile(s.file);
      if (data.length !== s.bytes || sha256(data) !== s.sha256) throw new Error("checksum mismatch");
      const tokens = await backend.restoreSequence(seq, s.file);
      if (tokens.length < s.tokens.length || s.tokens.some((t, i) => tokens[i] !== t)) throw new Error("tokens differ");
    } catch (e) {
      process.stderr.write(`[inferd] ignoring KV state ${s.file}: ${e instanceof Error ? e.message : String(e)}\n`);
      this.index.delete(s);
      this.bytes -= s.bytes;
      await this.remove(s);
      return false;
    }
    this.cost.recordRestore(s.tokens.length, performance.now() - t0);
    s.lastUsed = Date.now();
    return true;
  }

  private add(entry: Stored): void {
    this.index.add(entry);
    this.bytes += entry.bytes;
  }

  /** Deletes least recently used states until the folder is within its budget. */
  private async enforceBudget(): Promise<void> {
    while (this.bytes > this.budgetBytes && this.index.size > 0) {
      let lru: Stored | undefined;
      for (const e of this.index.entries()) if (lru === undefined || e.lastUsed < lru.lastUsed) lru = e;
      this.index.delete(lru!);
      this.bytes -= lru!.bytes;
      await this.remove(lru!);
    }
  }

  private async remove(e: { file: string; sidecar: string }): Promise<void> {
    await rm(e.sidecar, { force: true });
    await rm(e.file, { force: true });
  }
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
