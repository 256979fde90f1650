/**
 * Not a test: what the SQLite store's synchronous work costs per row (the event loop is blocked
 * while a batch's transaction runs), by batch size and synchronous mode, on a file in a temporary
 * folder. Also the time one append waits through the Ledger, alone and under load. Run alone:
 *
 *   npx tsc -p . && node dist/test/measure-ledger.js
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger } from "../src/ledger/ledger.js";
import { SqliteStore, type SqliteSync } from "../src/ledger/sqlite-store.js";
import { sampleRow } from "./ledger-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "inferd-measure-ledger-"));
try {
  let id = 0;
  for (const sync of ["normal", "full"] as SqliteSync[]) {
    const store = SqliteStore.open(join(dir, `${sync}.sqlite`), { synchronous: sync });
    for (const batch of [1, 16, 64, 256]) {
      const total = sync === "full" && batch === 1 ? 500 : 20_000;
      const rows = Array.from({ length: total }, () => sampleRow(id++, "m"));
      let worst = 0;
      const t0 = performance.now();
      for (let i = 0; i < total; i += batch) {
        const t = performance.now();
        await store.insert(rows.slice(i, i + batch));
        worst = Math.max(worst, performance.now() - t);
      }
      const ms = performance.now() - t0;
      process.stdout.write(`synchronous=${sync.padEnd(6)} batch ${String(batch).padStart(3)}: ${((ms * 1000) / total).toFixed(1).padStart(7)} us/row, ${((ms / total) * batch).toFixed(3).padStart(7)} ms/transaction (worst ${worst.toFixed(2)} ms)\n`);
    }
    await store.close();
  }
  const ledger = new Ledger(SqliteStore.open(join(dir, "ledger.sqlite")), { batchMs: 5 });
  const lone: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await ledger.append(sampleRow(id++, "l"));
    lone.push(performance.now() - t);
  }
  const t = performance.now();
  const waits = await Promise.all(Array.from({ length: 2000 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i % 200));
    const s = performance.now();
    await ledger.append(sampleRow(id++, "c"));
    return performance.now() - s;
  }));
  const took = performance.now() - t;
  waits.sort((a, b) => a - b);
  lone.sort((a, b) => a - b);
  process.stdout.write(`append alone (batchMs 5): median ${lone[25]!.toFixed(2)} ms, max ${lone.at(-1)!.toFixed(2)} ms\n`);
  process.stdout.write(`2000 appends over ${took.toFixed(0)} ms: median ${waits[1000]!.toFixed(2)} ms, p99 ${waits[1980]!.toFixed(2)} ms; ${ledger.stats.batches - 50} transactions\n`);
  await ledger.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
