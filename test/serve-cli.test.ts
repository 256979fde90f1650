/**
 * `inferd serve` as a process: it comes up on the port it prints, and on SIGTERM stops
 * accepting, lets running streams finish within the deadline (or cuts them after it), exits 0.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { startInferd } from "./inferd-process.js";
import { needsShared, STORIES } from "./shared.js";

/** A model with a chat template (random weights: it rarely ends early). */
const CHAT = "synthetic:smollm2-135m-q4_0";

/** Starts `inferd serve` of `model` (stories260K by default) on a free port. */
function startServer(extra: string[], command?: string[], model = STORIES!) {
  return startInferd(["--model", model, "--threads", "1", ...extra], {}, command);
}

/**
 * Opens a streamed completion of `n` choices; resolves once its first chunk arrived, with the
 * whole body to come. Several choices make the generation outlast a test runner slow to send
 * its signal (one 500-token choice of stories260K takes about a quarter second).
 */
async function openStream(base: string, n = 1, path = "/v1/completions") {
  const request =
    path === "/v1/messages"
      ? { model: CHAT, messages: [{ role: "user", content: "hi" }], max_tokens: 400, temperature: 0, stream: true }
      : { model: "stories260K", prompt: "", max_tokens: 500, temperature: 0, ignore_eos: true, stream: true, n };
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
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
    return { body, endedAt: performance.now() };
  })();
  return { rest };
}

/** The JSON events of an SSE body (OpenAI's `data:` lines; [DONE] as the string). */
function dataEvents(body: string): unknown[] {
  return body
    .split("\n\n")
    .filter((e) => e.includes("data: "))
    .map((e) => e.slice(e.indexOf("data: ") + 6))
    .map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
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
  it("SIGTERM: no new connections, the running stream finishes, exit 0 promptly after it", async () => {
    const { proc, base, exit } = await startServer([]);
    const { rest } = await openStream(base);
    proc.kill("SIGTERM");
    const { body, endedAt } = await rest;
    assert.match(body, /data: \[DONE\]/, "the stream ran to its end");
    assert.doesNotMatch(body, /"error"/);
    assert.equal(await exit, 0);
    // before: keep-alive sockets held the server ~4 s past the last stream
    assert.ok(performance.now() - endedAt < 1500, `exited ${Math.round(performance.now() - endedAt)} ms after the stream ended`);
    assert.equal(await canConnect(base), false);
  });

  it("SIGTERM past the deadline: every choice gets a finish, then an error event and [DONE]; exit 0", async () => {
    const { proc, base, exit } = await startServer(["--shutdown-timeout", "0"]);
    const { rest } = await openStream(base, 8);
    proc.kill("SIGTERM");
    assert.equal(await exit, 0);
    const events = dataEvents((await rest).body);
    assert.equal(events.at(-1), "[DONE]");
    const error = events.at(-2) as { error?: { code?: string } };
    assert.equal(error.error?.code, "server_shutdown");
    const finished = new Set<number>();
    for (const e of events.slice(0, -2) as { choices: { index: number; finish_reason: string | null }[] }[]) {
      for (const c of e.choices) if (c.finish_reason !== null) finished.add(c.index);
    }
    assert.equal(finished.size, 8, "each of the 8 choices has its finish_reason");
  });

  it("SIGTERM past the deadline on /v1/messages: the stream ends with an error event", async () => {
    const { proc, base, exit } = await startServer(["--shutdown-timeout", "0", "--context", "512"], undefined, CHAT);
    const { rest } = await openStream(base, 1, "/v1/messages");
    proc.kill("SIGTERM");
    assert.equal(await exit, 0);
    const { body } = await rest;
    assert.match(body, /^event: message_start/);
    assert.match(body, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/);
  });

  it("a new request while draining gets 503; a second signal exits at once", async () => {
    const { proc, base, exit } = await startServer(["--shutdown-timeout", "60"]);
    const { rest } = await openStream(base, 8);
    proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    proc.kill("SIGTERM");
    assert.notEqual(await exit, 0);
    assert.ok(performance.now() - t0 < 2000);
    await rest;
  });

  it("npx inferd serve (the README's command): signalling npx stops the server", async () => {
    // npm exec runs the bin through sh and exits on SIGTERM without passing it on
    const { proc, base, exit } = await startServer([], ["npx", "--no", "inferd"]);
    proc.kill("SIGTERM");
    await exit;
    let up = true;
    for (let i = 0; i < 50 && up; i++) {
      await new Promise((r) => setTimeout(r, 100));
      up = await canConnect(base);
    }
    assert.equal(up, false, "the server stopped with npx");
  });
});
