/** `inferd usage` as a user runs it: the real binary over a SQLite ledger in $INFERD_HOME, and over PostgreSQL. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { PostgresStore } from "../src/ledger/postgres-store.js";
import { SqliteStore } from "../src/ledger/sqlite-store.js";
import { packageRoot } from "../src/util/paths.js";
import { BASE_TS, referenceUsage, sampleRow } from "./ledger-fixtures.js";
import { needsPostgres, startPostgres, type PostgresServer } from "./postgres.js";

const BIN = join(packageRoot(), "bin", "inferd.js");
const home = mkdtempSync(join(tmpdir(), "inferd-usage-cli-"));
const rows = Array.from({ length: 120 }, (_, i) => sampleRow(i));

async function inferd(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, INFERD_HOME: home, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** What --format json must print for these rows: the reference sums under the report's field names. */
function expectedJson(by: "model" | "day" | "tag", f = {}) {
  return referenceUsage(rows, by, f).map((t) => ({
    [by]: t.group, requests: t.requests, input_tokens: t.inputTokens, cached_input_tokens: t.cachedInputTokens,
    cache_write_tokens: t.cacheWriteTokens, cache_write_1h_tokens: t.cacheWrite1hTokens, output_tokens: t.outputTokens,
    reasoning_tokens: t.reasoningTokens, cost_usd: t.costUsd, unpriced_requests: t.unpricedRequests, saved_usd: t.savedUsd, cache_hits: t.cacheHits,
  }));
}

/** Money sums differ in the last bits with the summing order. */
const round = (xs: Record<string, unknown>[]) => xs.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, typeof v === "number" ? Number(v.toPrecision(12)) : v])));

describe("inferd usage", { timeout: 120_000 }, () => {
  before(async () => {
    const s = SqliteStore.open(join(home, "ledger.sqlite"));
    await s.insert(rows);
    await s.close();
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("is listed in inferd --help and has its own --help", async () => {
    assert.match((await inferd(["--help"])).stdout, /usage {2,}tokens and cost/);
    const h = await inferd(["usage", "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: inferd usage .*--by key\|model\|provider\|day\|tag/);
  });

  it("--format json: the sums per group of $INFERD_HOME's ledger, --since and --key applied", async () => {
    for (const by of ["model", "day", "tag"] as const) {
      const r = await inferd(["usage", "--by", by, "--format", "json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(round(JSON.parse(r.stdout)), round(expectedJson(by)), by);
    }
    const since = await inferd(["usage", "--by", "day", "--since", "2025-01-02", "--format", "json"]);
    assert.deepEqual(round(JSON.parse(since.stdout)), round(expectedJson("day", { since: Date.UTC(2025, 0, 2) })));
    const key = await inferd(["usage", "--key", "k-beta", "--format", "json"]);
    assert.deepEqual(round(JSON.parse(key.stdout)), round(expectedJson("model", { keyId: "k-beta" })));
  });

  it("--by key shows the key id where no name is known, and key_id beside it", async () => {
    const r = await inferd(["usage", "--by", "key", "--format", "json"]);
    const got = JSON.parse(r.stdout) as { key: string | null; key_id: string | null; requests: number }[];
    assert.deepEqual(got.map((g) => [g.key, g.key_id, g.requests]), [["k-alpha", "k-alpha", 30], ["k-beta", "k-beta", 30], ["k-gamma", "k-gamma", 30], [null, null, 30]]);
  });

  it("--format csv quotes what needs it; the table adds a TOTAL line", async () => {
    const csv = (await inferd(["usage", "--by", "tag", "--format", "csv"])).stdout.split("\r\n");
    assert.equal(csv[0], "tag,requests,input_tokens,cached_input_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,unpriced_requests,saved_usd,cache_hits");
    assert.equal(csv.length, 1 + 4 + 1); // header, 4 tags (one null), the final CRLF
    assert.match(csv[4]!, /^,30,/); // the null tag: an empty cell
    const last = (await inferd(["usage", "--last", "3", "--format", "csv"])).stdout.split("\r\n");
    assert.equal(last[0]!.split(",")[3], "end_user");
    assert.ok(last.some((l) => l.includes(`,"o'brien, ""quoted""",`)), last.join("\n"));
    const table = await inferd(["usage"]);
    assert.equal(table.code, 0);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^MODEL +REQUESTS +INPUT_TOKENS/);
    assert.match(lines.at(-1)!, /^TOTAL +120 /);
    const costs = referenceUsage(rows, "model").reduce((a, t) => a + (t.costUsd ?? 0), 0);
    assert.ok(lines.at(-1)!.includes(costs.toFixed(6)), `${lines.at(-1)} has total cost ${costs.toFixed(6)}`);
  });

  it("--last N lists the latest requests, newest first", async () => {
    const r = await inferd(["usage", "--last", "3", "--format", "json"]);
    const got = JSON.parse(r.stdout) as { request_id: string; ts: number; cache_hit: boolean }[];
    assert.deepEqual(got.map((g) => g.request_id), ["req-119", "req-118", "req-117"]);
    assert.equal(got[0]!.ts, BASE_TS + 119 * 37 * 60_000);
    assert.equal(typeof got[0]!.cache_hit, "boolean");
    const t = await inferd(["usage", "--last", "2"]);
    assert.match(t.stdout.split("\n")[1]!, /^2025-01-04T\d\d:\d\d:00\.000Z +req-119 /);
  });

  it("bad flags and a missing ledger are one-line errors, and no ledger file is made", async () => {
    for (const [args, pattern] of [
      [["usage", "--by", "week"], /invalid --by: "week" \(must be key, model, provider, day, tag\)/],
      [["usage", "--since", "yesterday"], /invalid --since: "yesterday"/],
      [["usage", "--format", "xml"], /invalid --format/],
      [["usage", "--last", "0"], /invalid --last/],
      [["usage", "--db", join(home, "nope.sqlite")], /no ledger at .*nope\.sqlite/],
    ] as const) {
      const r = await inferd([...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
    assert.equal(existsSync(join(home, "nope.sqlite")), false);
  });

  describe("--postgres URL", needsPostgres, () => {
    let server: PostgresServer;
    before(async () => {
      server = await startPostgres();
    });
    after(async () => {
      await server?.stop();
    });

    it("reads the same sums from a PostgreSQL ledger", async () => {
      const url = await server.createDatabase("usage_cli");
      const s = await PostgresStore.open(url);
      await s.insert(rows);
      await s.close();
      for (const flag of ["--postgres", "--db"]) {
        const r = await inferd(["usage", flag, url, "--by", "day", "--format", "json"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(round(JSON.parse(r.stdout)), round(expectedJson("day")));
      }
    });
  });
});
