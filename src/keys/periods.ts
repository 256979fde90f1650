/**
 * Budget periods: UTC calendar days and months. UTC, not the server's zone, so that every
 * replica (and the Redis scripts, which get the period from the caller) agree on when a
 * budget resets, and a daylight-saving change never makes a day 23 or 25 hours long.
 */
import { assertNever } from "../util/assert-never.js";

/** How often a budget resets. */
export type Period = "day" | "month";

export const PERIODS: readonly Period[] = ["day", "month"];

/** Start (epoch ms) of the period holding `nowMs`. */
export function periodStart(period: Period, nowMs: number): number {
  const d = new Date(nowMs);
  switch (period) {
    case "day":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    case "month":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    default:
      return assertNever(period);
  }
}

/** End (epoch ms, exclusive) of the period holding `nowMs`: the next period's start, when the budget resets. */
export function periodEnd(period: Period, nowMs: number): number {
  const d = new Date(nowMs);
  switch (period) {
    case "day":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
    case "month":
      // Date.UTC carries month 12 into January of the next year
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    default:
      return assertNever(period);
  }
}

/** "per day" / "per month", for messages. */
export function perPeriod(period: Period): string {
  return `per ${period} (UTC)`;
}

/** Whether `s` names a period. */
export function isPeriod(s: string): s is Period {
  return (PERIODS as readonly string[]).includes(s);
}
