/**
 * Why the ledger could not confirm a row, and whether the row is still kept. The gateway awaits
 * `append` before a response's last byte; on this error it knows the row is not (yet) durable
 * and whether the ledger will still write it (`queued`) or has given it up (then it should log
 * the row itself).
 */
import { assertNever } from "../util/assert-never.js";

/**
 * - "write_failed": the batch holding the row failed every attempt (1 + retries); still queued.
 * - "timeout": not committed within `ackTimeoutMs` (or a flush's bound); still queued.
 * - "full": `maxQueued` rows already wait (the store is down); the row was not taken.
 * - "closed": the ledger is closing or closed; the row was not taken, or is given up.
 * - "invalid_row": a field breaks the schema's rules; the row was not taken.
 */
export type LedgerErrorReason = "write_failed" | "timeout" | "full" | "closed" | "invalid_row";

export class LedgerError extends Error {
  override readonly name = "LedgerError";
  constructor(
    readonly reason: LedgerErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when the ledger still holds the row and goes on trying to write it. */
  get queued(): boolean {
    switch (this.reason) {
      case "write_failed":
      case "timeout":
        return true;
      case "full":
      case "closed":
      case "invalid_row":
        return false;
      default:
        return assertNever(this.reason);
    }
  }
}
