/**
 * `kill -9` of a loaded `inferd serve`: every response a client received whole has its ledger
 * row, because the row is in the ledger's journal (one write()) before the response's last
 * byte is sent, and the next process writes the journal's rows into the store.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openJournaledLedger } from "../src/ledger/open.js";
import { SqliteStore } from "../src/ledger/sqlite-store.js";
import { startInferd } from "./inferd-process.js";
import { needsShared, STORIES } from "./shared.js";

describe("kill -9 of a loaded server", needsShared, () => {
  it("every completed response has its row", async () => {
    const home = await mkdtemp(join(tmpdir(), "inferd-kill-"));
    const server = await startInferd(["--model", STORIES!, "--threads", "1"], { INFERD_HOME: home });
    const completed: string[] = [];
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const stream = (c + i) % 2 === 0;
          const r = await fetch(`${server.base}/v1/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "stories260K", prompt: "Once", max_tokens: 20 + ((c * 37 + i * 11) % 80), stream }),
          });
          const body = await r.text();
          // whole: a JSON body, or a stream that reached its [DONE]
          if (r.status === 200 && (stream ? body.endsWith("data: [DONE]\n\n") : body.endsWith("}"))) completed.push(r.headers.get("x-request-id")!);
        } catch {
          return; // the server is gone
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    while (completed.length < 30) await new Promise((r) => setTimeout(r, 10));
    server.proc.kill("SIGKILL");
    stop = true;
    await server.exit;
    await Promise.all(clients);
    // what the killed server had journaled but not yet stored goes in first, as its next start would do
    await (await openJournaledLedger({ kind: "sqlite", path: join(home, "ledger.sqlite") })).close();
    const store = SqliteStore.open(join(home, "ledger.sqlite"));
    try {
      const ids = new Set((await store.recent(100_000, {})).map((r) => r.requestId));
      const missing = completed.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${completed.length} completed responses have no row`);
    } finally {
      await store.close();
    }
  });
});
