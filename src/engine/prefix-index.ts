/**
 * An index of computed token prefixes, in the manner of vLLM's automatic prefix cache: token
 * runs are cut into blocks of `blockSize` and each block is keyed by a hash chained over all
 * blocks before it, so equal keys mean (up to a hash collision) equal prefixes. A lookup walks
 * the new prompt block by block while some entry shares the chain, then verifies the winner
 * token by token (collisions cannot produce a wrong hit) and extends the match into the
 * partial block, so a hit can end at any token, not only at block boundaries.
 */

/** Something that holds KV for a token run (a sequence slot, a saved state file...). */
export interface PrefixEntry {
  /** The tokens whose KV the entry holds, from position 0. */
  readonly tokens: readonly number[];
}

export interface PrefixMatch<E extends PrefixEntry> {
  entry: E;
  /** Tokens of the query the entry holds, from position 0. */
  length: number;
}

export class PrefixIndex<E extends PrefixEntry> {
  /** Chained block hash -> entries holding that chain. */
  private readonly byHash = new Map<string, Set<E>>();
  private readonly keys = new Map<E, string[]>();

  constructor(readonly blockSize = 16) {}

  get size(): number {
    return this.keys.size;
  }

  entries(): IterableIterator<E> {
    return this.keys.keys();
  }

  add(entry: E): void {
    if (this.keys.has(entry)) this.delete(entry);
    const hashes = this.chain(entry.tokens, Infinity);
    for (const h of hashes) {
      let set = this.byHash.get(h);
      if (set === undefined) this.byHash.set(h, (set = new Set()));
      set.add(entry);
    }
    this.keys.set(entry, hashes);
  }

  delete(entry: E): void {
    const hashes = this.keys.get(entry);
    if (hashes === undefined) return;
    for (const h of hashes) {
      const set = this.byHash.get(h)!;
      set.delete(entry);
      if (set.size === 0) this.byHash.delete(h);
    }
    this.keys.delete(entry);
  }

  /**
   * The entry sharing the longest prefix with `tokens` (ties: the shortest entry), or undefined
   * when none shares even one token.
   */
  longest(tokens: readonly number[], accept: (e: E) => boolean = () => true): PrefixMatch<E> | undefined {
    // 1. whole blocks, by hash: the candidates that share the most of them
    let candidates: Iterable<E> = [...this.keys.keys()].filter(accept);
    const hashes = this.chain(tokens, Infinity);
    for (const h of hashes) {
      const set = this.byHash.get(h);
      const next = set === undefined ? [] : [...set].filter(accept);
      if (next.length === 0) break;
      candidates = next;
    }
    // 2. verify and extend token by token (at most one block past the hashed part)
    let best: PrefixMatch<E> | undefined;
    for (const entry of candidates) {
      const n = commonPrefix(entry.tokens, tokens);
      // on a tie, the entry the match covers most of: taking it over destroys the least
      if (n > 0 && (best === undefined || n > best.length || (n === best.length && entry.tokens.length < best.entry.tokens.length))) best = { entry, length: n };
    }
    return best;
  }

  /** Chained hashes of the whole blocks of `tokens` (at most `maxBlocks`). */
  private chain(tokens: readonly number[], maxBlocks: number): string[] {
    const out: string[] = [];
    let h = "";
    for (let b = 0; (b + 1) * this.blockSize <= tokens.length && b < maxBlocks; b++) {
      h = blockHash(h, tokens, b * this.blockSize, this.blockSize);
      out.push(h);
    }
    return out;
  }
}

/** Length of the common prefix of two token runs. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** FNV-1a over the previous hash and the block's tokens: cheap, and verification catches collisions. */
function blockHash(prev: string, tokens: readonly number[], start: number, len: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < prev.length; i++) {
    h1 = Math.imul(h1 ^ prev.charCodeAt(i), 16777619);
    h2 = Math.imul(h2 ^ prev.charCodeAt(i), 2246822519);
  }
  for (let i = start; i < start + len; i++) {
    const t = tokens[i]!;
    h1 = Math.imul(h1 ^ t, 16777619);
    h2 = Math.imul(h2 ^ (t >>> 3), 2246822519) ^ t;
  }
  return (h1 >>> 0).toString(36) + ":" + (h2 >>> 0).toString(36);
}
