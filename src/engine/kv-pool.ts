/**
 * Counts KV cells and sequence slots, the way nano-vllm's block manager counts blocks: the
 * scheduler asks `canAppend` before it schedules tokens and `append`s what it scheduled.
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

  get freeSlotCount(): number {
    return this.freeSlots.length;
  }

  canAllocate(cells: number): boolean {
    return this.freeSlots.length > 0 && cells <= this.freeCells && cells <= this.cellsPerSequence;
  }

  /** Takes a slot with `cells` cells; call only after canAllocate. */
  allocate(cells: number): number {
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new Error("KvPool: no free slot");
    this.used.set(slot, 0);
    this.append(slot, cells);
    return slot;
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
}
