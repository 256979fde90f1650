/**
 * `inferd usage`: what the ledger recorded, summed per key, model, provider, day or tag, or the
 * latest requests. Reads $INFERD_HOME/ledger.sqlite unless told another file or a PostgreSQL URL.
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { journalBaseOf, ledgerLocationOf, openJournaledLedger, openLedgerStore, type LedgerLocation } from "../ledger/open.js";
import { defaultLedgerPath } from "../ledger/sqlite-store.js";
import { GROUP_BYS, type GroupBy, type UsageFilter } from "../ledger/store.js";
import { recentRequests, ROW_COLUMNS, rowJson, usageJson, usageReport, type KeyNames } from "../ledger/usage.js";
import { InferdError } from "../util/errors.js";
import { numberFlag, parseError } from "./args.js";
import { formatRecords, totalRecord, USAGE_FORMATS, type Flat, type UsageFormat } from "./usage-format.js";

export const USAGE_HELP = `Usage: inferd usage [--by key|model|provider|day|tag] [--since DATE] [--format table|csv|json]

Sums what the ledger recorded (every request: tokens by kind, cost) per group, or lists the
latest requests.

Options:
      --by G           key (its name, else its id), model (as asked), provider (that answered),
                       day (UTC) or tag (default model)
      --since DATE     from DATE on: YYYY-MM-DD (UTC midnight), an ISO time, or 30m, 24h, 7d ago
      --until DATE     before DATE (same forms)
      --key ID         only the requests of key ID
      --last N         the N latest requests instead of sums (newest first)
      --format F       table (default, with a TOTAL line), csv or json (an array of objects)
      --db PATH|URL    the ledger: a SQLite file (default $INFERD_HOME/ledger.sqlite) or postgres://...
      --postgres URL   the ledger in PostgreSQL (same as --db postgres://...)
  -h, --help           show this help

cost_usd sums the known costs; unpriced_requests counts the requests without a price (their
cost is unknown, not zero), and cost_usd is empty (null) only when no request had one.
`;

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new InferdError("invalid_argument", `invalid --${name}: ${JSON.stringify(value)} (must be ${allowed.join(", ")})`, { param: name });
  return value as T;
}

const RELATIVE = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A --since/--until value as ms epoch: a UTC date, an ISO time, or an age ("7d") before `now`. */
export function parseWhen(name: string, value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const rel = /^(\d+)([mhd])$/.exec(value);
  if (rel) return now - Number(rel[1]) * RELATIVE[rel[2] as keyof typeof RELATIVE];
  // Date.parse reads a bare date as UTC midnight and a time without zone as local time
  const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw new InferdError("invalid_argument", `invalid --${name}: ${JSON.stringify(value)} (YYYY-MM-DD, an ISO time, or an age like 24h or 7d)`, { param: name });
  return t;
}

const LAST_TABLE_COLUMNS = ["ts", "request_id", "key_id", "model_requested", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd", "total_ms", "status", "outcome", "error_code"];

interface UsageArgs {
  where: LedgerLocation;
  by: GroupBy;
  format: UsageFormat;
  filter: UsageFilter;
  last?: number;
}

/** Parses `usage` flags; every bad value is a one-line invalid_argument error. */
export function parseUsageArgs(argv: string[]): UsageArgs | "help" {
  let v;
  try {
    const s = { type: "string" } as const;
    v = parseArgs({ args: argv, options: { by: s, since: s, until: s, key: s, last: s, format: s, db: s, postgres: s, help: { type: "boolean", short: "h" } } }).values;
  } catch (e) {
    throw parseError(e);
  }
  if (v.help) return "help";
  if (v.db !== undefined && v.postgres !== undefined) throw new InferdError("invalid_argument", "usage: give --db or --postgres, not both");
  if (v.postgres !== undefined && !/^postgres(ql)?:\/\//i.test(v.postgres)) throw new InferdError("invalid_argument", `invalid --postgres: must be a postgres:// URL`, { param: "postgres" });
  const where: LedgerLocation = v.postgres !== undefined ? { kind: "postgres", url: v.postgres } : ledgerLocationOf(v.db ?? defaultLedgerPath());
  // a reader must not create an empty ledger where there was none (a mistyped path)
  if (where.kind === "sqlite") where.options = { mustExist: true };
  const filter: UsageFilter = { since: parseWhen("since", v.since), until: parseWhen("until", v.until) };
  if (v.key !== undefined) filter.keyId = v.key;
  return {
    where,
    by: oneOf("by", v.by, GROUP_BYS, "model"),
    format: oneOf("format", v.format, USAGE_FORMATS, "table"),
    filter,
    last: numberFlag("last", v.last, { integer: true, min: 1, max: 1_000_000 }),
  };
}

/**
 * `inferd usage`. `keyNames` turns key ids into names (default: the key store's in
 * $INFERD_HOME, when there is one; else keys show as their ids). Returns the exit code.
 */
export async function usageCommand(argv: string[], keyNames?: KeyNames): Promise<number> {
  const a = parseUsageArgs(argv);
  if (a === "help") {
    process.stdout.write(USAGE_HELP);
    return 0;
  }
  // rows a dead server journaled but never stored are stored first (a live server's are its own)
  if (existsSync(journalBaseOf(a.where)) && (a.where.kind !== "sqlite" || existsSync(a.where.path ?? defaultLedgerPath()))) await (await openJournaledLedger(a.where)).close();
  const store = await openLedgerStore(a.where);
  keyNames ??= await storedKeyNames();
  try {
    let records: Flat[];
    let columns: string[];
    if (a.last !== undefined) {
      records = (await recentRequests(store, a.last, a.filter)).map(rowJson);
      columns = [...ROW_COLUMNS];
      if (a.format === "table") {
        // all 26 columns do not fit a terminal: the table shows the ones a person scans for
        columns = LAST_TABLE_COLUMNS;
        records = records.map((r) => ({ ...r, ts: new Date(r.ts as number).toISOString() }));
      }
    } else {
      records = (await usageReport(store, a.by, a.filter, keyNames)).map(usageJson);
      columns = Object.keys(usageJson({ by: a.by, group: null, keyId: null, totals: emptyTotals() }));
      if (a.format === "table" && records.length > 1) records.push(totalRecord(records, columns, a.by));
    }
    if (records.length === 0 && a.format === "table") process.stderr.write(`no requests recorded${a.filter.since !== undefined || a.filter.until !== undefined || a.filter.keyId !== undefined ? " that match" : ""} in ${store.location}\n`);
    else process.stdout.write(formatRecords(records, columns, a.format));
    return 0;
  } finally {
    await store.close();
  }
}

function emptyTotals() {
  return { group: null, requests: 0, inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0, costUsd: null, unpricedRequests: 0, savedUsd: null, cacheHits: 0 };
}

/** Key ids to names from $INFERD_HOME's key store, revoked keys included; undefined without one. */
async function storedKeyNames(): Promise<Map<string, string> | undefined> {
  const { existsSync } = await import("node:fs");
  const { KeyStore, keysDbPath } = await import("../keys/store.js");
  if (!existsSync(keysDbPath())) return undefined;
  const keys = new KeyStore();
  try {
    return new Map(keys.list({ includeRevoked: true }).map((k) => [k.id, k.name]));
  } finally {
    keys.close();
  }
}
