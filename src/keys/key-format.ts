/**
 * The format of a virtual API key and how it is hashed.
 *
 * A key is `sk-inferd-` followed by 32 random bytes (256 bits from the OS CSPRNG) written in
 * base62, 43 characters: no `-` or `_`, so a double-click selects it whole, and it passes
 * through shells, headers and URLs unquoted.
 *
 * Only SHA-256 of the key is stored. A slow password KDF (scrypt, argon2) is not needed: it
 * exists to make guessing low-entropy *passwords* expensive, while guessing one of 2^256
 * random keys is infeasible at any hash speed, and with no dictionary to precompute there is
 * nothing for a salt to defeat either. A fast hash also matters here: every request verifies
 * its key, and a KDF's tens of milliseconds of CPU per request would be both latency and an
 * easy denial-of-service.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** What every inferd virtual key starts with (so secret scanners and people can tell one). */
export const KEY_PREFIX = "sk-inferd-";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** Base62 digits of a 256-bit number: ceil(256 / log2(62)) = 43. */
const SECRET_CHARS = 43;
/** Characters of the secret part shown by `list` (about 36 bits: names the key, reveals nothing useful). */
const SHOWN_CHARS = 6;

/** Base62 of `bytes` as a big-endian number, left-padded to `width` digits. */
export function base62(bytes: Uint8Array, width: number): string {
  let n = BigInt("0x" + (Buffer.from(bytes).toString("hex") || "0"));
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  return out.padStart(width, "0");
}

/** A new key: the plaintext (shown once), its hash (stored) and its display prefix (stored). */
export interface NewSecret {
  plaintext: string;
  hash: Buffer;
  prefix: string;
}

/** Makes a fresh random key. */
export function generateKey(): NewSecret {
  const plaintext = KEY_PREFIX + base62(randomBytes(32), SECRET_CHARS);
  return { plaintext, hash: hashKey(plaintext), prefix: displayPrefix(plaintext) };
}

/** SHA-256 of the key's UTF-8 bytes: what the store keeps and looks keys up by. */
export function hashKey(plaintext: string): Buffer {
  return createHash("sha256").update(plaintext, "utf8").digest();
}

/** The non-secret part shown in listings, e.g. `sk-inferd-Ab3xY9...`. */
export function displayPrefix(plaintext: string): string {
  return plaintext.slice(0, KEY_PREFIX.length + SHOWN_CHARS) + "...";
}

/** Whether `s` has the shape of an inferd key (cheap filter before any lookup). */
export function looksLikeKey(s: string): boolean {
  return s.length === KEY_PREFIX.length + SECRET_CHARS && s.startsWith(KEY_PREFIX) && /^[0-9A-Za-z]+$/.test(s.slice(KEY_PREFIX.length));
}

/** Constant-time equality of two digests (false, not a throw, when their lengths differ). */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A random identifier of `chars` base62 characters (key and admission ids; not secrets). */
export function randomId(chars: number): string {
  // 6 bits per character is more than base62 holds, so `chars` bytes always suffice
  return base62(randomBytes(chars), chars).slice(-chars);
}
