/** `inferd cost estimate --local`: a model on this machine measured, then priced beside hosted ones. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { BIN } from "./inferd-process.js";
import { needsShared, STORIES } from "./shared.js";

describe("cost estimate with a local model", needsShared, () => {
  it("measures stories260K here and says how many machines the load needs", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "cost", "estimate", "--requests-per-day", "2000000", "--input-tokens", "40", "--output-tokens", "40", "--models", "gpt-4o-mini", "--local", STORIES!, "--format", "json"]);
    const out = JSON.parse(stdout);
    const local = out.models.find((m: { kind: string }) => m.kind === "local");
    assert.ok(local, stdout);
    assert.ok(local.machines >= 1 && local.utilization > 0 && local.utilization <= 1, JSON.stringify(local));
    // a month of that many machines at $0.126/h
    assert.ok(Math.abs(Number(local.monthlyUsdExact) - local.machines * 0.126 * 24 * 30) < 1e-6, JSON.stringify(local));
    assert.ok(out.models.some((m: { kind: string; model: string }) => m.kind === "hosted" && m.model === "gpt-4o-mini"));
  });
});
