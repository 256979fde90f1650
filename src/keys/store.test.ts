import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isInferdError } from "../util/errors.js";
import { allowsModel, type KeySpec } from "./api-key.js";
import { base62, KEY_PREFIX, looksLikeKey } from "./key-format.js";
import { MemoryLimits } from "./memory-limits.js";
import { KeyStore } from "./store.js";

function tempStore(): KeyStore {
  return new KeyStore(join(mkdtempSync(join(tmpdir(), "inferd-keys-")), "keys.sqlite"));
}

/** Every byte SQLite wrote for the store: the database, its WAL and shared-memory index. */
function rawBytes(store: KeyStore): Buffer {
  const dir = join(store.path, "..");
  return Buffer.concat(readdirSync(dir).filter((f) => f.startsWith("keys.sqlite")).map((f) => readFileSync(join(dir, f))));
}

describe("key format", () => {
  it("is sk-inferd- and 43 base62 characters (256 random bits)", () => {
    assert.equal(base62(new Uint8Array(32).fill(255), 43).length, 43, "2^256 - 1 fits in 43 digits");
    assert.equal(base62(new Uint8Array(32), 43), "0".repeat(43));
    const store = tempStore();
    const keys = Array.from({ length: 50 }, (_, i) => store.create({ name: `k${i}` }).plaintext);
    for (const k of keys) assert.match(k, /^sk-inferd-[0-9A-Za-z]{43}$/);
    assert.equal(new Set(keys).size, 50);
    assert.ok(looksLikeKey(keys[0]!) && !looksLikeKey(keys[0]! + "x") && !looksLikeKey("sk-inferd-" + "_".repeat(43)));
    store.close();
  });
});

describe("KeyStore", () => {
  it("never stores a key in clear: the raw database, WAL included, holds no secret", () => {
    const store = tempStore();
    const created = Array.from({ length: 20 }, (_, i) => store.create({ name: `searchable-name-${i}`, budgetUsd: 1 }));
    const check = () => {
      const raw = rawBytes(store);
      // the search works: the names, which are stored, are found
      assert.ok(raw.includes(Buffer.from("searchable-name-7")), "names are in the file");
      for (const { plaintext } of created) {
        assert.equal(raw.includes(Buffer.from(plaintext)), false);
        assert.equal(raw.includes(Buffer.from(plaintext.slice(KEY_PREFIX.length + 6))), false, "nor the secret beyond the shown prefix");
        assert.equal(raw.includes(Buffer.from(plaintext.slice(KEY_PREFIX.length + 6), "utf8").toString("base64")), false);
      }
    };
    check(); // while open: the rows are in the WAL
    store.close();
    check(); // after the checkpoint on close: in the database file
  });

  it("the file is readable by its owner only", () => {
    const store = tempStore();
    store.create({ name: "a" });
    assert.equal(statSync(store.path).mode & 0o777, 0o600);
    store.close();
  });

  it("create, verify, list, revoke", () => {
    const store = tempStore();
    const { key, plaintext } = store.create({ name: "ci", budgetUsd: 5, period: "day", soft: true, rpm: 60, tpm: 10_000, models: ["small", "big", "small"] });
    assert.match(key.id, /^key_[0-9A-Za-z]{16}$/);
    assert.deepEqual(
      { ...key, id: undefined, createdAt: undefined },
      { id: undefined, name: "ci", prefix: plaintext.slice(0, 16) + "...", createdAt: undefined, revokedAt: null, budgetUsd: 5, period: "day", soft: true, rpm: 60, tpm: 10_000, models: ["small", "big"] },
    );
    assert.deepEqual(store.verify(plaintext), key);
    assert.ok(allowsModel(key, "big") && !allowsModel(key, "other"));

    const other = store.create({ name: "dev" });
    assert.deepEqual([other.key.budgetUsd, other.key.period, other.key.soft, other.key.rpm, other.key.models], [null, "month", false, null, null]);
    assert.deepEqual(store.list().map((k) => k.name), ["ci", "dev"]);
    assert.equal(JSON.stringify(store.list()).includes(plaintext.slice(16)), false, "listings carry no secret");

    assert.equal(store.revoke("ci").revokedAt !== null, true);
    assert.equal(store.verify(plaintext), undefined, "a revoked key fails");
    assert.ok(store.verify(other.plaintext), "the others still work");
    assert.deepEqual(store.list().map((k) => k.name), ["dev"]);
    assert.deepEqual(store.list({ includeRevoked: true }).map((k) => k.name), ["ci", "dev"]);
    assert.throws(() => store.revoke("ci"), (e) => isInferdError(e, "invalid_argument") && /no key named "ci"/.test(e.message));
    assert.throws(() => store.revoke(key.id), /already revoked/);

    // a revoked key's name can be reused; the new key is a different key
    const again = store.create({ name: "ci" });
    assert.notEqual(again.key.id, key.id);
    assert.equal(store.verify(plaintext), undefined);
    assert.equal(store.verify(again.plaintext)?.id, again.key.id);
    assert.equal(store.revoke(again.key.id).name, "ci", "revoke by id");
    store.close();
  });

  it("a wrong key fails verify, however close", () => {
    const store = tempStore();
    const { plaintext } = store.create({ name: "a" });
    const last = plaintext.at(-1)!;
    for (const wrong of [plaintext.slice(0, -1) + (last === "A" ? "B" : "A"), plaintext.slice(0, -1), plaintext + "A", plaintext.toLowerCase(), "", undefined, KEY_PREFIX + "0".repeat(43)]) {
      assert.equal(store.verify(wrong), undefined, String(wrong));
    }
    store.close();
  });

  it("names are unique among working keys; bad settings are one-line errors naming the field", () => {
    const store = tempStore();
    store.create({ name: "a" });
    assert.throws(() => store.create({ name: "a" }), (e) => isInferdError(e, "invalid_argument") && e.details.param === "name" && /already exists/.test(e.message));
    const cases: [KeySpec, string][] = [
      [{ name: "has space" }, "name"],
      [{ name: "key_x" }, "name"],
      [{ name: "" }, "name"],
      [{ name: "b", budgetUsd: -1 }, "budget"],
      [{ name: "b", soft: true }, "soft"],
      [{ name: "b", rpm: 0 }, "rpm"],
      [{ name: "b", tpm: 1.5 }, "tpm"],
      [{ name: "b", models: [""] }, "models"],
    ];
    for (const [spec, param] of cases) {
      assert.throws(() => store.create(spec), (e) => isInferdError(e, "invalid_argument") && e.details.param === param, JSON.stringify(spec));
    }
    assert.deepEqual(store.list().map((k) => k.name), ["a"], "nothing half-created");
    store.close();
  });

  it("keys and spend survive reopening; in-process limits find last spend after a restart", async () => {
    const store = tempStore();
    const { key, plaintext } = store.create({ name: "persist", budgetUsd: 0.25 });
    const now = Date.UTC(2030, 5, 10);
    const before = new MemoryLimits({ ledger: store });
    for (let i = 0; i < 2; i++) await before.settle(await before.admit(key, { tokens: 10, costUsd: 0.1 }, now), { tokens: 10, costUsd: 0.1 });
    await before.close();
    store.close();

    const reopened = new KeyStore(store.path);
    assert.equal(reopened.verify(plaintext)?.id, key.id);
    assert.equal(reopened.spentNano(key.id, Date.UTC(2030, 5, 1)), 200_000_000);
    const after = new MemoryLimits({ ledger: reopened });
    await assert.rejects(after.admit(key, { tokens: 10, costUsd: 0.1 }, now), (e) => isInferdError(e, "quota_exceeded") && /\$0\.20 spent/.test(e.message));
    assert.equal((await after.state(key, now)).spentUsd, 0.2);
    assert.ok(await after.admit(key, { tokens: 10, costUsd: 0.05 }, now));
    reopened.close();
  });
});
