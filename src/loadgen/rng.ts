/**
 * A tiny seeded PRNG for the load generator. Math.random cannot be seeded, and a benchmark must
 * send the same prompts at the same moments on every run so two servers (or two builds of one)
 * are compared on identical load.
 */

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: 32 bits of state, passes the usual statistical batteries well enough for picking
 * words and arrival gaps, and is a handful of integer operations (no BigInt, no dependency).
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Shuffles `items` in place (Fisher-Yates, so every order is equally likely) and returns it. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randInt(rng, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Derives an independent stream from the user's seed, so that e.g. changing --num-prompts does
 * not shift the arrival times drawn from the same seed (each consumer gets its own stream).
 */
export function subRng(seed: number, stream: number): Rng {
  return mulberry32(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b));
}
