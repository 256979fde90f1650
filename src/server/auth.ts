/**
 * The server's own API key check: `Authorization: Bearer <key>` (OpenAI) or `x-api-key: <key>`
 * (Anthropic), compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";

/** The key a request carries, or undefined. `Authorization` without the Bearer scheme carries none. */
export function givenKey(c: Context): string | undefined {
  const auth = c.req.header("authorization");
  if (auth !== undefined) {
    const m = /^Bearer +(\S+) *$/i.exec(auth);
    return m?.[1];
  }
  return c.req.header("x-api-key");
}

/**
 * Whether `given` is `expected`, in time that does not depend on where they differ (digests of
 * equal length are compared, so the key's length does not leak either).
 */
export function keyMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b);
}
