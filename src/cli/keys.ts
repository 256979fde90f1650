/**
 * `inferd keys create|list|revoke`: manages the virtual keys in `$INFERD_HOME/keys.sqlite`.
 * A running server sees a revoked key fail at its next request (it reads the same file).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ApiKey } from "../keys/api-key.js";
import { fromNano } from "../keys/limits.js";
import { periodEnd, periodStart, isPeriod } from "../keys/periods.js";
import { RedisLimits } from "../keys/redis-limits.js";
import { formatUsd } from "../keys/refusals.js";
import { KeyStore } from "../keys/store.js";
import { InferdError } from "../util/errors.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";

export const KEYS_HELP = `Usage: inferd keys <create|list|revoke> [options]

Virtual API keys for "inferd serve", each with an optional budget and rate limits. They are
kept in $INFERD_HOME/keys.sqlite (default ~/.cache/inferd), which holds only their hashes.

  inferd keys create --name N [--budget USD] [--period day|month] [--soft]
                     [--rpm N] [--tpm N] [--models a,b]
      Creates a key and prints it, once, as the last line of the output
      (KEY=$(inferd keys create --name ci | tail -n 1)).
      --budget USD   most the key may spend per period (default: no budget)
      --period P     day or month, UTC calendar periods (default month)
      --soft         never refuse over budget: add an x-inferd-budget-warning header instead
      --rpm N        requests per minute
      --tpm N        tokens per minute (prompt + max_tokens at admission, real count after)
      --models a,b   the only models the key may use (default: all)

  inferd keys list [--format table|json] [--all] [--redis URL]
      Lists keys (never their secrets) with this period's spend. --all includes revoked
      keys; --redis reads spend and rate use from the Redis that replicas share.

  inferd keys revoke NAME|ID
      Revokes a key: it fails from its next request on.
`;

function parse<const T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
  try {
    const args = joinNegativeValues(argv, new Set(["--budget", "--rpm", "--tpm"]));
    return parseArgs({ args, allowPositionals: true, strict: true, options: { ...options, help: { type: "boolean", short: "h" } } as const });
  } catch (e) {
    throw parseError(e);
  }
}

function noPositionals(sub: string, positionals: string[]): void {
  if (positionals.length > 0) throw new InferdError("invalid_argument", `keys ${sub}: unexpected argument "${positionals[0]}" (see inferd keys --help)`);
}

function createCommand(argv: string[]): number {
  const s = { type: "string" } as const;
  const { values: v, positionals } = parse(argv, { name: s, budget: s, period: s, soft: { type: "boolean" }, rpm: s, tpm: s, models: s });
  if (v.help) return help();
  noPositionals("create", positionals);
  if (v.name === undefined) throw new InferdError("invalid_argument", "keys create: --name is required (see inferd keys --help)", { param: "name" });
  if (v.period !== undefined && !isPeriod(v.period)) throw new InferdError("invalid_argument", `invalid --period: ${JSON.stringify(v.period)} (must be day or month)`, { param: "period" });
  const store = new KeyStore();
  try {
    const { key, plaintext } = store.create({
      name: v.name,
      budgetUsd: numberFlag("budget", v.budget, { min: 0 }),
      period: v.period,
      soft: v.soft,
      rpm: numberFlag("rpm", v.rpm, { integer: true, min: 1 }),
      tpm: numberFlag("tpm", v.tpm, { integer: true, min: 1 }),
      models: v.models?.split(","),
    });
    process.stdout.write(
      `created key "${key.name}" (${key.id}) in ${store.path}\n` +
        `  budget: ${budgetText(key)}\n  rate:   ${key.rpm ?? "unlimited"} requests/min, ${key.tpm ?? "unlimited"} tokens/min\n` +
        `  models: ${key.models?.join(", ") ?? "all"}\n` +
        `This is the only time the key is shown (inferd keeps only its hash):\n${plaintext}\n`,
    );
  } finally {
    store.close();
  }
  return 0;
}

function budgetText(k: ApiKey): string {
  return k.budgetUsd === null ? `none (spend counted per ${k.period})` : `${formatUsd(k.budgetUsd)} per ${k.period} (UTC)${k.soft ? ", soft" : ""}`;
}

async function listCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, { format: { type: "string" }, all: { type: "boolean" }, redis: { type: "string" } });
  if (v.help) return help();
  noPositionals("list", positionals);
  const format = v.format ?? "table";
  if (format !== "table" && format !== "json") throw new InferdError("invalid_argument", `invalid --format: ${JSON.stringify(format)} (must be table or json)`, { param: "format" });
  const store = new KeyStore();
  const redis = v.redis === undefined ? undefined : new RedisLimits({ url: v.redis });
  try {
    const now = Date.now();
    const rows = [];
    for (const key of store.list({ includeRevoked: v.all })) {
      // the file knows spend only (the in-process limiter's windows live in the server); Redis knows it all
      const usage = redis !== undefined ? await redis.state(key, now) : {
        spentUsd: fromNano(store.spentNano(key.id, periodStart(key.period, now))),
        budgetUsd: key.budgetUsd,
        periodStarts: new Date(periodStart(key.period, now)).toISOString(),
        periodEnds: new Date(periodEnd(key.period, now)).toISOString(),
      };
      rows.push({ ...key, usage });
    }
    if (format === "json") {
      process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      return 0;
    }
    if (rows.length === 0) {
      process.stderr.write(`no keys in ${store.path} (try: inferd keys create --name NAME)\n`);
      return 0;
    }
    const header = ["NAME", "ID", "KEY", "BUDGET", "SPENT", "RPM", "TPM", "MODELS", "CREATED", ...(v.all ? ["REVOKED"] : [])];
    const used = (n: number | undefined, limit: number | null) => (n === undefined ? String(limit ?? "-") : `${n}/${limit ?? "-"}`);
    const table = rows.map((r) => [
      r.name,
      r.id,
      r.prefix,
      r.budgetUsd === null ? "-" : `${formatUsd(r.budgetUsd)}/${r.period}${r.soft ? " soft" : ""}`,
      formatUsd(r.usage.spentUsd) + ("reservedUsd" in r.usage && r.usage.reservedUsd > 0 ? ` (+${formatUsd(r.usage.reservedUsd)} in flight)` : ""),
      used("rpmUsed" in r.usage ? r.usage.rpmUsed : undefined, r.rpm),
      used("tpmUsed" in r.usage ? r.usage.tpmUsed : undefined, r.tpm),
      r.models?.join(",") ?? "all",
      r.createdAt.slice(0, 19) + "Z",
      ...(v.all ? [r.revokedAt === null ? "-" : r.revokedAt.slice(0, 19) + "Z"] : []),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    for (const r of [header, ...table]) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
    return 0;
  } finally {
    store.close();
    await redis?.close();
  }
}

function revokeCommand(argv: string[]): number {
  const { values: v, positionals } = parse(argv, {});
  if (v.help) return help();
  if (positionals.length !== 1) throw new InferdError("invalid_argument", "keys revoke takes one key name or id (see inferd keys --help)");
  const store = new KeyStore();
  try {
    const key = store.revoke(positionals[0]!);
    process.stdout.write(`revoked key "${key.name}" (${key.id})\n`);
  } finally {
    store.close();
  }
  return 0;
}

function help(): number {
  process.stdout.write(KEYS_HELP);
  return 0;
}

/** `inferd keys <subcommand>`. Returns the exit code. */
export async function keysCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "create":
      return createCommand(rest);
    case "list":
      return listCommand(rest);
    case "revoke":
      return revokeCommand(rest);
    case "-h":
    case "--help":
    case "help":
      return help();
    default:
      process.stderr.write(`inferd: ${sub === undefined ? "keys needs a subcommand" : `unknown keys subcommand "${sub}"`}\n${KEYS_HELP}`);
      return 1;
  }
}
