import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { packageRoot } from "../src/util/paths.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

const BIN = join(packageRoot(), "bin", "inferd.js");
const home = mkdtempSync(join(tmpdir(), "inferd-cli-"));

async function inferd(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, INFERD_HOME: home, INFERD_HF_ENDPOINT: "http://127.0.0.1:9", ...env },
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** A user error: exit 1, one line on stderr naming the problem, no stack trace, nothing on stdout. */
function assertOneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
}

describe("inferd CLI", () => {
  it("prints help for every command", async () => {
    for (const args of [["--help"], ["run", "--help"], ["models", "--help"], ["pull", "--help"]]) {
      const r = await inferd(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Usage: inferd/);
    }
  });

  it("run: greedy from BOS prints exactly the reference text on stdout, stats on stderr", needsShared, async () => {
    const r = await inferd(["run", "--model", STORIES!, "--temperature", "0", "--max-tokens", "200", "--threads", "1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, storiesReference());
    assert.match(r.stderr, /output 200 tokens/);
    assert.match(r.stderr, /tok\/s/);
  });

  it("run: stop strings and seeds from flags", needsShared, async () => {
    const a = await inferd(["run", "-m", STORIES!, "-t", "0.9", "-s", "3", "-n", "30", "--threads", "1", "Lily"]);
    const b = await inferd(["run", "-m", STORIES!, "-t", "0.9", "-s", "3", "-n", "30", "--threads", "1", "Lily"]);
    assert.equal(a.stdout, b.stdout);
    const s = await inferd(["run", "-m", STORIES!, "-t", "0", "-n", "200", "--stop", "park", "--threads", "1"]);
    assert.equal(s.stdout, storiesReference().split("park")[0]);
  });

  it("bad flag values are one-line errors", async () => {
    assertOneLineError(await inferd(["run", "-m", "x.gguf", "--max-tokens", "-5"]), /--max-tokens.*-5/);
    assertOneLineError(await inferd(["run", "-m", "x.gguf", "--temperature", "-1"]), /--temperature/);
    assertOneLineError(await inferd(["run", "-m", "x.gguf", "--top-p", "1.5"]), /--top-p/);
    assertOneLineError(await inferd(["run", "-m", "x.gguf", "--threads", "0"]), /--threads/);
    assertOneLineError(await inferd(["run", "--bogus"]), /bogus/);
  });

  it("a missing model file is a one-line error", async () => {
    assertOneLineError(await inferd(["run", "-m", "/nonexistent/model.gguf", "hi"]), /not found.*\/nonexistent\/model\.gguf/);
  });

  it("a file that is not a GGUF is a one-line error", async () => {
    const p = join(home, "not-a-model.gguf");
    writeFileSync(p, "hello, I am text\n");
    assertOneLineError(await inferd(["run", "-m", p]), /not a GGUF/);
  });

  it("a truncated GGUF is a one-line error", needsShared, async () => {
    const p = join(home, "truncated.gguf");
    const full = readFileSync(STORIES!);
    writeFileSync(p, full.subarray(0, full.length >> 1));
    assertOneLineError(await inferd(["run", "-m", p, "--threads", "1"]), /cannot load .*truncated\.gguf: .*(not within the file bounds|corrupted|incomplete)/);
  });

  it("an unsupported architecture is a one-line error naming it", needsShared, async () => {
    const p = join(home, "unknown-arch.gguf");
    const buf = Buffer.from(readFileSync(STORIES!));
    const key = buf.indexOf("general.architecture");
    const at = buf.indexOf("llama", key + "general.architecture".length);
    buf.write("zzzzz", at, "latin1"); // same length: still a well-formed GGUF
    writeFileSync(p, buf);
    assertOneLineError(await inferd(["run", "-m", p, "--threads", "1"]), /architecture "zzzzz"/);
  });

  it("an unknown synthetic shape is a one-line error", async () => {
    assertOneLineError(await inferd(["run", "-m", "synthetic:gpt-9000"]), /unknown synthetic shape/);
  });

  it("offline with nothing cached: the default model's error names the ways on", async () => {
    const r = await inferd(["run", "hello"]);
    assertOneLineError(r, /offline/);
    assert.match(r.stderr, /local \.gguf path/);
    assert.match(r.stderr, /hf:/);
    assert.match(r.stderr, /synthetic:/);
    // nothing half-written at a final path
    const hfDir = join(home, "models", "hf");
    const files = (() => {
      try {
        return readdirSync(hfDir, { recursive: true }).map(String);
      } catch {
        return [];
      }
    })();
    assert.ok(files.every((f) => !f.endsWith(".gguf")), `no .gguf left: ${files.join(", ")}`);
  });

  it("pull of an unreachable hf: model is a one-line offline error", async () => {
    assertOneLineError(await inferd(["pull", "hf:someone/repo/model.gguf"]), /offline/);
  });

  it("pull writes a synthetic model, models lists it, run generates with it", async () => {
    const pulled = await inferd(["pull", "synthetic:smollm2-135m-q4_0"]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout.trim(), /synthetic-smollm2-135m-q4_0.*\.gguf$/);
    const listed = await inferd(["models"]);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /synthetic:synthetic-smollm2-135m-q4_0\S*\s+\d+(\.\d+)? MB\s+Q4_0\s+llama/);
    const run = await inferd(["run", "-m", "synthetic:smollm2-135m-q4_0", "-n", "8", "--ignore-eos", "--threads", "1", "hello"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /output 8 tokens/);
  });
});
