/**
 * `inferd route train|eval` as a user runs them, on small fixtures with known answers: the
 * oracle's APGR and CPT are the hand-computed ones of src/routing/eval/curve.test.ts; the
 * cascade escalates the GSM8K answers that fail their checks first; a trained router file
 * round-trips through `--model`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { packageRoot } from "../src/util/paths.js";
import { BIN } from "./inferd-process.js";

const run = promisify(execFile);
const MMLU = join(packageRoot(), "test", "fixtures", "routellm-mmlu-mini.csv");
const GSM8K = join(packageRoot(), "test", "fixtures", "routellm-gsm8k-mini.csv");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (...args: string[]): Promise<any> => JSON.parse((await run(process.execPath, [BIN, "route", "eval", ...args, "--format", "json"])).stdout);

describe("inferd route", () => {
  it("eval --policy oracle: the hand-computed APGR and CPT", async () => {
    const r = await json("--dataset", MMLU, "--policy", "oracle");
    assert.equal(r.apgr, 0.75);
    assert.equal(r.cpt50, 0.25);
    assert.equal(r.cpt80, 0.5);
    assert.equal(r.accSmall, 0.25);
    assert.equal(r.accLarge, 0.75);
    // the two (longer) prompts on GPT-4, the others on Mixtral, which costs a small part of it: under half saved
    assert.ok(r.cost_saved_at_95 > 0.3 && r.cost_saved_at_95 < 0.5, String(r.cost_saved_at_95));
    assert.match(r.tokenizers.large, /cl100k/);
  });
  it("eval --policy random: APGR 0.5", async () => {
    const r = await json("--dataset", MMLU, "--policy", "random");
    assert.equal(r.apgr, 0.5);
  });
  it("eval --policy cascade: answers that fail the gsm8k check escalate first", async () => {
    const r = await json("--dataset", GSM8K, "--policy", "cascade");
    // the three failing answers (wrong sum, no final answer, final not the last result) go first:
    // questions 2 and 4 gain, 3 does not, 1 (right, passing) stays with the small model
    assert.deepEqual(r.curve.map((p: { accuracy: number }) => p.accuracy), [0.25, 0.5, 0.5, 0.75, 0.75]);
    assert.equal(r.mode, "cascade");
  });
  it("train writes a router that eval --model reads; wrong use is a one-line error", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "inferd-route-")), "router.json");
    const out = (await run(process.execPath, [BIN, "route", "train", "--dataset", MMLU, "--out", file])).stdout;
    assert.match(out, /trained on 4 questions/);
    const r = await json("--dataset", MMLU, "--policy", "learned", "--model", file);
    // trained on these very prompts: it finds the two the large model alone gets right
    assert.equal(r.cpt80, 0.5);
    await assert.rejects(run(process.execPath, [BIN, "route", "eval", "--dataset", MMLU, "--policy", "learned"]), (e: { stderr: string }) => /needs --train DEV/.test(e.stderr));
    await assert.rejects(run(process.execPath, [BIN, "route", "eval", "--dataset", MMLU, "--policy", "cascade"]), (e: { stderr: string }) => /needs the small model's answers/.test(e.stderr));
    await assert.rejects(run(process.execPath, [BIN, "route", "eval", "--dataset", join(packageRoot(), "package.json"), "--policy", "oracle"]), (e: { stderr: string }) => /no column "prompt"|not a CSV/.test(e.stderr));
  });
});
