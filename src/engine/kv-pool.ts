import { PrefixIndex, type PrefixMatch } from "./prefix-index.js";

/** A slot no request holds whose KV still has a computed prefix (the automatic prefix cache). */
export interface CachedSlot {
  readonly slot: number;
  /** The tokens its KV holds, from position 0. */
  readonly tokens: readonly number[];
  lastUsed: number;
}

/**
 * Counts KV cells and sequence slots, the way nano-vllm's block manager counts blocks: the
 * scheduler asks `canAppend` before it schedules tokens and `append`s what it scheduled.
 *
 * A slot is free, held by a running request, or cached: no request holds it but its KV keeps a
 * computed prefix that a later request can take over. Cached slots are indexed by prefix and
 * evicted least recently used first when a request needs a slot or cells.
 *
 * With llama.cpp's split KV (node-llama-cpp creates contexts with kv_unified = false) each slot
 * owns `cellsPerSequence` cells outright, so `totalCells` is slots x cellsPerSequence and only
 * the per-sequence limit ever binds. A smaller `totalCells` models a shared pool (and lets tests
 * exercise preemption); the scheduler's rules are the same either way.
 */
export class KvPool {
  private readonly freeSlots: number[];
  private readonly used = new Map<number, number>();
  private usedTotal = 0;
  private readonly cached = new Map<number, CachedSlot>();
  private readonly index = new PrefixIndex<CachedSlot>();

  constructor(
    readonly slots: number,
    readonly cellsPerSequence: number,
    readonly totalCells: number = slots * cellsPerSequence,
  ) {
    // pop() hands out slot 0 first
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  get freeCells(): number {
    return this.totalCells - this.usedTotal;
  }

  /** Cells held by running requests: cached prefixes, which any allocation may evict, not counted. */
  get activeCells(): number {
    let cached = 0;
    for (const c of this.cached.values()) cached += this.used.get(c.slot) ?? 0;
    return this.usedTotal - cached;
  }

  get freeSlotCount(): number {
    return this.freeSlots.length;
  }

  get cachedCount(): number {
    return this.cached.size;
  }

  /** Whether a slot with `cells` cells can be had now, evicting cached prefixes if need be. */
  canAllocate(cells: number): boolean {
    const evictable = [...this.cached.values()].reduce((n, c) => n + (this.used.get(c.slot) ?? 0), 0);
    return this.freeSlots.length + this.cached.size > 0 && cells <= this.freeCells + evictable && cells <= this.cellsPerSequence;
  }

  /**
   * Takes a slot with `cells` cells; call only after canAllocate. Evicts least recently used
   * cached prefixes while a slot or the cells are missing; returns what it evicted (their KV
   * must be cleared or saved before the slot is reused).
   */
  allocate(cells: number): { slot: number; evicted: CachedSlot[] } {
    const evicted: CachedSlot[] = [];
    while (this.freeSlots.length === 0 || this.freeCells < cells) {
      const lru = this.leastRecentlyUsed();
      if (lru === undefined) throw new Error("KvPool: no slot to allocate");
      this.evict(lru);
      evicted.push(lru);
    }
    const slot = this.freeSlots.pop()!;
    this.used.set(slot, 0);
    this.append(slot, cells);
    return { slot, evicted };
  }

  canAppend(slot: number, cells: number): boolean {
    const have = this.used.get(slot) ?? 0;
    return cells <= this.freeCells && have + cells <= this.cellsPerSequence;
  }

  append(slot: number, cells: number): void {
    this.used.set(slot, (this.used.get(slot) ?? 0) + cells);
    this.usedTotal += cells;
  }

  free(slot: number): void {
    const have = this.used.get(slot);
    if (have === undefined) return;
    this.usedTotal -= have;
    this.used.delete(slot);
    this.freeSlots.push(slot);
  }

  /** A request left `slot`; its KV holds `tokens`, kept as a cached prefix. */
  retain(slot: number, tokens: readonly number[], now: number): void {
    this.usedTotal += tokens.length - (this.used.get(slot) ?? 0);
    this.used.set(slot, tokens.length);
    const entry: CachedSlot = { slot, tokens, lastUsed: now };
    this.cached.set(slot, entry);
    this.index.add(entry);
  }

  /** The cached prefix sharing the most tokens with `tokens`. */
  longestCached(tokens: readonly number[]): PrefixMatch<CachedSlot> | undefined {
    return this.index.longest(tokens);
  }

  /** A request takes over a cached slot, keeping its first `keep` cells. */
  take(entry: CachedSlot, keep: number): void {
    this.forget(entry);
    this.usedTotal -= (this.used.get(entry.slot) ?? 0) - keep;
    this.used.set(entry.slot, keep);
  }

  /** Drops a cached prefix and frees its slot. */
  evict(entry: CachedSlot): void {
    this.forget(entry);
    this.free(entry.slot);
  }

  private forget(entry: CachedSlot): void {
    this.cached.delete(entry.slot);
    this.index.delete(entry);
  }

  /** The cached prefix the next `allocate` would evict first (undefined while a slot is free). */
  nextVictim(): CachedSlot | undefined {
    return this.freeSlots.length > 0 ? undefined : this.leastRecentlyUsed();
  }

  private leastRecentlyUsed(): CachedSlot | undefined {
    let lru: CachedSlot | undefined;
    for (const c of this.cached.values()) if (lru === undefined || c.lastUsed < lru.lastUsed) lru = c;
    return lru;
  }
}
