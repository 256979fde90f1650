/**
 * Virtual API keys: the SQLite key store, and the limiters that hold each key to its budget
 * and rate limits (in-process by default, Redis to share them between replicas).
 */
import type { SpendLedger, Limits } from "./limits.js";
import { MemoryLimits } from "./memory-limits.js";
import { RedisLimits } from "./redis-limits.js";

export { allowsModel, modelNotAllowed, type ApiKey, type KeySpec } from "./api-key.js";
export { KEY_PREFIX } from "./key-format.js";
export { BUDGET_WARNING_HEADER, type Actual, type Admission, type Estimate, type KeyUsage, type Limits, type SpendLedger } from "./limits.js";
export { MemoryLimits } from "./memory-limits.js";
export { RedisLimits } from "./redis-limits.js";
export type { Period } from "./periods.js";
export { KeyStore, keysDbPath } from "./store.js";

/**
 * The limiter a server should use: Redis when a URL is given (several replicas), else
 * in-process with its spend kept in `ledger` (normally the KeyStore).
 */
export function createLimits(opts: { redisUrl?: string; ledger?: SpendLedger }): Limits {
  return opts.redisUrl !== undefined ? new RedisLimits({ url: opts.redisUrl }) : new MemoryLimits({ ledger: opts.ledger });
}
