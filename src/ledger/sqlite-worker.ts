/**
 * The SQLite store's thread: a SqliteStore opened in a worker, answering the calls posted to
 * it. better-sqlite3 is synchronous, and its commits (and the WAL checkpoints some of them run,
 * 5-16 ms here) would stall the server's event loop: here they stall only this thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SqliteStore } from "./sqlite-store.js";
import type { Call, Reply } from "./sqlite-thread-store.js";

const port = parentPort!;
let store: SqliteStore;
try {
  store = SqliteStore.open(workerData.path as string, workerData.options);
  port.postMessage({ id: 0, ok: true, value: null } satisfies Reply);
} catch (e) {
  port.postMessage({ id: 0, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies Reply);
  process.exit(0);
}

port.on("message", async (call: Call) => {
  try {
    let value: unknown;
    switch (call.op) {
      case "insert":
        value = await store.insert(call.rows);
        break;
      case "usage":
        value = await store.usage(call.by, call.filter);
        break;
      case "recent":
        value = await store.recent(call.limit, call.filter);
        break;
      case "close":
        value = await store.close();
        break;
    }
    port.postMessage({ id: call.id, ok: true, value } satisfies Reply);
  } catch (e) {
    port.postMessage({ id: call.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies Reply);
  }
});
