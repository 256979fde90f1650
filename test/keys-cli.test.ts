/**
 * `inferd keys` as a user runs it: the real binary on a real key file in a temporary
 * $INFERD_HOME, and `list --redis` against a real redis-server.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { RedisLimits } from "../src/keys/redis-limits.js";
import { KeyStore } from "../src/keys/store.js";
import { packageRoot } from "../src/util/paths.js";
import { needsRedis, startRedis, type TestRedis } from "./redis.js";

const BIN = join(packageRoot(), "bin", "inferd.js");

function newHome(): string {
  return mkdtempSync(join(tmpdir(), "inferd-keys-cli-"));
}

async function inferd(home: string, args: string[]) {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, INFERD_HOME: home } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

function lastLine(s: string): string {
  return s.trimEnd().split("\n").at(-1)!;
}

describe("inferd keys", () => {
  it("create prints the key once, as the last line; it verifies against the store", async () => {
    const home = newHome();
    const r = await inferd(home, ["keys", "create", "--name", "ci", "--budget", "2.5", "--period", "day", "--soft", "--rpm", "60", "--tpm", "5000", "--models", "small,big"]);
    assert.equal(r.code, 0, r.stderr);
    const key = lastLine(r.stdout);
    assert.match(key, /^sk-inferd-[0-9A-Za-z]{43}$/);
    assert.equal(r.stdout.split(key).length, 2, "printed once");
    assert.match(r.stdout, /\$2\.50 per day \(UTC\), soft/);
    const store = new KeyStore(join(home, "keys.sqlite"));
    const found = store.verify(key);
    store.close();
    assert.deepEqual([found?.name, found?.budgetUsd, found?.period, found?.soft, found?.rpm, found?.tpm, found?.models], ["ci", 2.5, "day", true, 60, 5000, ["small", "big"]]);
  });

  it("list shows keys without secrets (table and JSON); revoke makes a key fail", async () => {
    const home = newHome();
    const a = lastLine((await inferd(home, ["keys", "create", "--name", "alpha", "--budget", "1"])).stdout);
    const b = lastLine((await inferd(home, ["keys", "create", "--name", "beta"])).stdout);
    const table = await inferd(home, ["keys", "list"]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^NAME\s+ID\s+KEY\s+BUDGET\s+SPENT\s+RPM\s+TPM\s+MODELS\s+CREATED$/);
    assert.match(lines[1]!, /^alpha\s+key_\w+\s+sk-inferd-\w{6}\.\.\.\s+\$1\.00\/month\s+\$0\.00\s+-\s+-\s+all\s+\d{4}-/);
    assert.match(lines[2]!, /^beta\s/);
    for (const k of [a, b]) assert.equal(table.stdout.includes(k.slice(16)), false);

    const json = await inferd(home, ["keys", "list", "--format", "json"]);
    const rows = JSON.parse(json.stdout) as { name: string; usage: { spentUsd: number; periodEnds: string } }[];
    assert.deepEqual(rows.map((r) => r.name), ["alpha", "beta"]);
    assert.equal(rows[0]!.usage.spentUsd, 0);
    assert.equal(json.stdout.includes(a.slice(16)), false);

    const revoked = await inferd(home, ["keys", "revoke", "alpha"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^revoked key "alpha" \(key_\w+\)\n$/);
    const store = new KeyStore(join(home, "keys.sqlite"));
    assert.equal(store.verify(a), undefined);
    assert.ok(store.verify(b));
    store.close();
    assert.deepEqual(JSON.parse((await inferd(home, ["keys", "list", "--format", "json"])).stdout).map((r: { name: string }) => r.name), ["beta"]);
    assert.match((await inferd(home, ["keys", "list", "--all"])).stdout, /REVOKED[\s\S]*alpha.*\d{4}-\d\d-\d\dT[\d:]+Z\n/);
  });

  it("mistakes are one-line errors, exit 1, nothing on stdout", async () => {
    const home = newHome();
    await inferd(home, ["keys", "create", "--name", "dup"]);
    for (const [args, pattern] of [
      [["keys", "create"], /--name is required/],
      [["keys", "create", "--name", "dup"], /a key named "dup" already exists/],
      [["keys", "create", "--name", "x", "--budget", "-3"], /invalid --budget: "-3"/],
      [["keys", "create", "--name", "x", "--period", "week"], /invalid --period: "week" \(must be day or month\)/],
      [["keys", "create", "--name", "x", "--soft"], /soft budget needs a budget/],
      [["keys", "create", "--name", "x", "--rpm", "1.5"], /invalid --rpm/],
      [["keys", "revoke", "nobody"], /no key named "nobody"/],
      [["keys", "list", "--format", "xml"], /invalid --format/],
      [["keys", "list", "--bogus"], /bogus/],
    ] as const) {
      const r = await inferd(home, [...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
    const help = await inferd(home, ["keys", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: inferd keys/);
    assert.match((await inferd(home, ["--help"])).stdout, /keys\s+virtual API keys/);
  });

  describe("list --redis", needsRedis, () => {
    let redis: TestRedis;
    before(async () => (redis = await startRedis()));
    after(() => redis.stop());

    it("shows spend, reservations and rate use from the shared Redis", async () => {
      const home = newHome();
      const plaintext = lastLine((await inferd(home, ["keys", "create", "--name", "shared", "--budget", "1", "--rpm", "10"])).stdout);
      const store = new KeyStore(join(home, "keys.sqlite"));
      const key = store.verify(plaintext)!;
      store.close();
      const limits = new RedisLimits({ url: redis.url });
      try {
        await limits.settle(await limits.admit(key, { tokens: 10, costUsd: 0.25 }), { tokens: 10, costUsd: 0.2 });
        await limits.admit(key, { tokens: 10, costUsd: 0.1 });
      } finally {
        await limits.close();
      }
      const r = await inferd(home, ["keys", "list", "--redis", redis.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /shared\s.*\$1\.00\/month\s+\$0\.20 \(\+\$0\.10 in flight\)\s+2\/10\s+20\/-/);
    });
  });
});
