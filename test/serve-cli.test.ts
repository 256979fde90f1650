/**
 * `inferd serve` as a process: it comes up on the port it prints, and on SIGTERM stops
 * accepting, lets running streams finish within the deadline (or cuts them after it), exits 0.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../src/util/paths.js";
import { needsShared, STORIES } from "./shared.js";

const BIN = join(packageRoot(), "bin", "inferd.js");

/** Starts `inferd serve` on a free port; resolves with the process and its base URL. */
async function startServer(extra: string[]): Promise<{ proc: ChildProcess; base: string; exit: Promise<number | null> }> {
  const proc = spawn(process.execPath, [BIN, "serve", "--model", STORIES!, "--port", "0", "--threads", "1", ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  const exit = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  let stderr = "";
  const base = await new Promise<string>((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /on (http:\/\/[\d.]+:\d+)\n/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return { proc, base, exit };
}

/**
 * Opens a streamed completion of `n` choices; resolves once its first chunk arrived, with the
 * whole body to come. Several choices make the generation outlast a test runner slow to send
 * its signal (one 500-token choice of stories260K takes about a quarter second).
 */
async function openStream(base: string, n = 1) {
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "stories260K", prompt: "", max_tokens: 500, temperature: 0, ignore_eos: true, stream: true, n }),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let body = decoder.decode((await reader.read()).value);
  const rest = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        body += decoder.decode(value);
      }
    } catch {
      // the connection was cut
    }
    return body;
  })();
  return { rest };
}

function canConnect(base: string): Promise<boolean> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname);
    s.on("connect", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

describe("inferd serve process", needsShared, () => {
  it("SIGTERM: no new connections, the running stream finishes, exit 0", async () => {
    const { proc, base, exit } = await startServer([]);
    const { rest: body } = await openStream(base);
    proc.kill("SIGTERM");
    assert.match(await body, /data: \[DONE\]/, "the stream ran to its end");
    assert.equal(await exit, 0);
    assert.equal(await canConnect(base), false);
  });

  it("SIGTERM with a zero deadline cuts the stream and still exits 0", async () => {
    const { proc, base, exit } = await startServer(["--shutdown-timeout", "0"]);
    const { rest: body } = await openStream(base, 8);
    proc.kill("SIGTERM");
    assert.equal(await exit, 0);
    assert.doesNotMatch(await body, /\[DONE\]/);
  });
});
