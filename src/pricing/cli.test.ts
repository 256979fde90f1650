/** `inferd prices` and `inferd cost estimate` as a user runs them: the real bin, its stdout, stderr and exit code. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { packageRoot } from "../util/paths.js";
import { defaultTablePath } from "./table.js";

const BIN = join(packageRoot(), "bin", "inferd.js");

async function inferd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 1 << 22 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** The cells of the table line whose first cell is `first` (columns are two or more spaces apart). */
function line(out: string, first: string): string[] {
  const l = out.split("\n").find((s) => s.split(/\s{2,}/)[0] === first);
  assert.ok(l, `a line for ${first} in:\n${out}`);
  return l.split(/\s{2,}/);
}

describe("inferd prices", () => {
  it("lists every row of the table with its rates, tier, source and date, quietly", async () => {
    const r = await inferd(["prices"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]!.split(/\s{2,}/), ["MODEL", "FAMILY", "INPUT", "CACHED", "WRITE-5M", "WRITE-1H", "OUTPUT", "REASONING", "TIER", "SOURCE", "DATE"]);
    const file = JSON.parse(readFileSync(defaultTablePath(), "utf8")) as { models: { tiers?: unknown[] }[] };
    assert.equal(lines.length - 1, file.models.length + file.models.reduce((n, m) => n + (m.tiers?.length ?? 0), 0), "one line per row and tier");
    assert.deepEqual(line(r.stdout, "gpt-4o"), ["gpt-4o", "openai", "2.5", "1.25", "2.5", "2.5", "10", "10", "-", "https://platform.openai.com/docs/pricing", "2025-08"]);
    assert.equal(line(r.stdout, "gpt-4o-2024-05-13")[3], "-", "no cached rate is shown as such");
    const tier = lines.filter((l) => l.startsWith("claude-sonnet-4-5 "))[1]!.split(/\s{2,}/);
    assert.deepEqual(tier.slice(2, 9), ["6", "0.6", "7.5", "12", "22.5", "22.5", ">200000"]);
  });

  it("--format json: the table's values, dated ids found", async () => {
    const r = await inferd(["prices", "--format", "json", "gpt-4o-2024-11-20"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { models: Record<string, unknown>[] };
    assert.equal(j.models.length, 1);
    assert.deepEqual(
      { ...j.models[0], aliases: undefined },
      { model: "gpt-4o", family: "openai", aliases: undefined, input: 2.5, cached_input: 1.25, cache_write: 2.5, cache_write_1h: 2.5, output: 10, reasoning: 10, tiers: [], source: "https://platform.openai.com/docs/pricing", date: "2025-08" },
    );
  });

  it("--config FILE: the config's models with their overrides applied, local models at their hour", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inferd-prices-cli-"));
    const file = join(dir, "inferd.yaml");
    writeFileSync(
      file,
      [
        "providers:",
        "  oa: { type: openai }",
        "models:",
        "  - { name: smart, provider: oa, model: gpt-4o-2024-08-06, price: { output: 12 } }",
        "  - { name: small, provider: local, model: x.gguf, price: { machine_usd_per_hour: 0.2 } }",
        "  - { name: tiny, provider: local, model: y.gguf }",
        "  - { name: lab, provider: oa, model: stories260K }",
      ].join("\n"),
    );
    const r = await inferd(["prices", "--config", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(line(r.stdout, "smart").slice(0, 11), ["smart", "oa", "gpt-4o", "2.5", "1.25", "2.5", "2.5", "12", "12", "-", "output"]);
    assert.deepEqual(line(r.stdout, "small").slice(0, 6), ["small", "local", "x.gguf", "0.2", "machine_usd_per_hour", "config"]);
    assert.deepEqual(line(r.stdout, "tiny").slice(0, 4), ["tiny", "local", "y.gguf", "0.126"]);
    assert.match(r.stdout, /note: lab: no price for "stories260K"/);
    const j = JSON.parse((await inferd(["prices", "--config", file, "--format", "json"])).stdout) as { models: { name: string; price: Record<string, unknown> | null }[] };
    assert.deepEqual(
      j.models.map((m) => [m.name, m.price?.kind ?? null, m.price?.output ?? m.price?.machine_usd_per_hour ?? null]),
      [["smart", "tokens", 12], ["small", "compute", 0.2], ["tiny", "compute", 0.126], ["lab", null, null]],
    );
    writeFileSync(file, "models:\n  - { name: smart, provider: oa, model: gpt-4o, price: { outptu: 12 } }\n");
    const bad = await inferd(["prices", "--config", file]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /^inferd: inferd\.yaml: models\[0\]\.price\.outptu: .*\n$/);
  });

  it("errors are one line: an unknown model, a bad format", async () => {
    for (const [args, msg] of [[["prices", "no-such-model"], /no price for "no-such-model"/], [["prices", "--format", "xml"], /invalid --format/]] as const) {
      const r = await inferd([...args]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1);
    }
  });
});

describe("inferd cost estimate", () => {
  const LOAD = ["--requests-per-day", "10000", "--input-tokens", "500", "--output-tokens", "200", "--cached-share", "0.6"];

  it("prints a month's bill per model, exactly", async () => {
    const r = await inferd(["cost", "estimate", ...LOAD, "--models", "gpt-4o,claude-sonnet-4-5-20250929"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split("\n")[0]!.split(/\s{2,}/), ["MODEL", "FAMILY", "USD/REQUEST", "USD/MONTH", "NOTE"]);
    // 2875 micro-dollars a request x 300000; 3690 x 300000
    assert.deepEqual(line(r.stdout, "gpt-4o"), ["gpt-4o", "openai", "0.002875", "862.5"]);
    assert.deepEqual(line(r.stdout, "claude-sonnet-4-5-20250929"), ["claude-sonnet-4-5-20250929", "anthropic", "0.00369", "1107"]);
    const j = JSON.parse((await inferd(["cost", "estimate", ...LOAD, "--models", "gpt-4o", "--format", "json"])).stdout) as { days: number; models: { monthlyUsdExact: string }[] };
    assert.deepEqual([j.days, j.models[0]!.monthlyUsdExact], [30, "862.5"]);
  });

  it("a model with no price is listed so, and the exit code says the bill is incomplete", async () => {
    const r = await inferd(["cost", "estimate", ...LOAD, "--models", "gpt-4o,no-such-model"]);
    assert.equal(r.code, 1);
    assert.deepEqual(line(r.stdout, "no-such-model").slice(0, 4), ["no-such-model", "-", "-", "-"]);
  });

  it("help, and one-line errors for bad flags", async () => {
    const h = await inferd(["cost", "estimate", "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^Usage: inferd cost estimate/);
    for (const [args, msg] of [
      [["cost", "estimate", "--input-tokens", "5", "--output-tokens", "5"], /--requests-per-day is required/],
      [["cost", "estimate", ...LOAD, "--cached-share", "2"], /invalid --cached-share: "2" \(must be a number >= 0 <= 1\)/],
      [["cost", "estimate", "--requests-per-day", "-5", "--input-tokens", "5", "--output-tokens", "5"], /invalid --requests-per-day: "-5"/],
      [["cost", "guess"], /unknown cost subcommand "guess"/],
    ] as const) {
      const r = await inferd([...args]);
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1);
    }
  });
});
