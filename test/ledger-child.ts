/**
 * Not a test: the process the kill -9 test (ledger-kill.test.ts) kills. Opens the ledger at
 * argv[2] (a SQLite path or a postgres:// URL), prints "ready", then appends rows from 32
 * concurrent writers without end, printing each row's request id once its append resolved
 * (stdout to a pipe is synchronous on Linux: a printed id was acknowledged before the kill).
 */
import { Ledger } from "../src/ledger/ledger.js";
import { ledgerLocationOf, openLedgerStore } from "../src/ledger/open.js";
import { sampleRow } from "./ledger-fixtures.js";

const [spec, prefix = "kill"] = process.argv.slice(2);
if (!spec) throw new Error("usage: ledger-child.js SQLITE_PATH|POSTGRES_URL [PREFIX]");
const ledger = new Ledger(await openLedgerStore(ledgerLocationOf(spec)), { batchMs: 2 });
process.stdout.write("ready\n");
let next = 0;
async function writer(): Promise<never> {
  for (;;) {
    const row = sampleRow(next++, prefix);
    await ledger.append(row);
    process.stdout.write(`${row.requestId}\n`);
    // a little spacing, as requests end at different times
    if (next % 7 === 0) await new Promise((r) => setImmediate(r));
  }
}
await Promise.all(Array.from({ length: 32 }, writer));
