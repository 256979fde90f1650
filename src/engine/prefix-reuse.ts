/**
 * Where a new request's prefix can come from instead of being computed: a cached slot it takes
 * over, a running sequence it copies from, a state saved in the second tier, or nowhere. Also
 * says when to wait: a running sequence is computing that very prefix right now, so starting
 * at once would compute it twice.
 */
import type { CachedSlot, KvPool } from "./kv-pool.js";
import type { PrefixTier, StoredPrefix } from "./kv-ops.js";
import { commonPrefix } from "./prefix-index.js";
import type { Sequence } from "./sequence.js";

export type Reuse =
  | { kind: "none"; length: 0 }
  /** Take over an idle cached slot, truncated to `length`: no copy at all. */
  | { kind: "take"; entry: CachedSlot; length: number }
  /** Copy another slot's KV (a running sequence's, or a cached prefix kept whole) into a new slot, truncated to `length`. */
  | { kind: "copy"; fromSlot: number; length: number }
  /** Load a saved state into a new slot, truncated to `length`. */
  | { kind: "restore"; stored: StoredPrefix; length: number }
  /** Wait: `source` is computing `length` tokens of this prefix now. */
  | { kind: "defer"; source: Sequence; length: number };

/** Matches shorter than this are not worth a copy (a copy moves a whole sequence's cells). */
export const MIN_COPY_TOKENS = 16;

/**
 * The cheapest way to get `seq`'s tokens into KV. At least the last token is always left to
 * compute: its logits are what the next sample needs.
 */
export function planReuse(seq: Sequence, kv: KvPool, running: readonly Sequence[], tier: PrefixTier | undefined): Reuse {
  const tokens = seq.tokens;
  const cap = tokens.length - 1;
  let best: Reuse = { kind: "none", length: 0 };
  const cached = kv.longestCached(tokens);
  if (cached !== undefined && Math.min(cached.length, cap) > 0) best = { kind: "take", entry: cached.entry, length: Math.min(cached.length, cap) };
  let pending: { source: Sequence; length: number } | undefined;
  for (const r of running) {
    if (r.slot === undefined) continue;
    const shared = Math.min(commonPrefix(r.tokens, tokens), cap);
    const ready = Math.min(shared, r.computed);
    if (ready > best.length && ready >= MIN_COPY_TOKENS) best = { kind: "copy", fromSlot: r.slot, length: ready };
    if (shared > ready && (pending === undefined || shared > pending.length)) pending = { source: r, length: shared };
  }
  if (tier !== undefined) {
    const stored = tier.longest(tokens);
    const length = Math.min(stored?.length ?? 0, cap);
    if (stored !== undefined && length > best.length && tier.worthRestoring(length, best.length)) {
      best = { kind: "restore", stored: stored.entry, length };
    }
  }
  if (pending !== undefined && pending.length >= best.length + MIN_COPY_TOKENS) return { kind: "defer", ...pending };
  return best;
}

/**
 * What of an evicted prefix to save in the second tier: the part other requests share with it
 * (what later requests will want, not one request's own tail), or all of it when it shares
 * nothing (a conversation that may continue); undefined when the tier declines.
 */
export function savedPart(tokens: readonly number[], kv: KvPool, running: readonly Sequence[], tier: PrefixTier | undefined): readonly number[] | undefined {
  if (tier === undefined) return undefined;
  let shared = Math.max(kv.longestCached(tokens)?.length ?? 0, tier.longest(tokens)?.length ?? 0);
  for (const r of running) shared = Math.max(shared, commonPrefix(r.tokens, tokens));
  const keep = shared >= MIN_COPY_TOKENS ? tokens.slice(0, shared) : tokens;
  return tier.worthSaving(keep) ? keep : undefined;
}
