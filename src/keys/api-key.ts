/**
 * A virtual API key as the rest of inferd sees it (never its secret), and the rules for
 * creating one. The store keeps these; the limiters read the limits from them on every
 * admission, so a key's limits are whatever the store says now.
 */
import { InferdError } from "../util/errors.js";
import { isPeriod, type Period } from "./periods.js";

/** A stored key: who it is and what it may spend, without its secret. */
export interface ApiKey {
  /** `key_` + 16 base62 characters; never changes, never reused. */
  id: string;
  /** Unique among keys that are not revoked. */
  name: string;
  /** The first characters of the key, for telling keys apart in listings (not a secret). */
  prefix: string;
  /** ISO time. */
  createdAt: string;
  /** ISO time, or null while the key works. */
  revokedAt: string | null;
  /** Most the key may spend per period, in USD; null: no budget (spend is still counted). */
  budgetUsd: number | null;
  /** The budget's period (also the period spend is reported for when there is no budget). */
  period: Period;
  /** A soft budget never refuses a request: going over it only adds a warning. */
  soft: boolean;
  /** Requests per minute; null: unlimited. */
  rpm: number | null;
  /** Tokens (prompt + output) per minute; null: unlimited. */
  tpm: number | null;
  /** Models (served names) the key may use; null: all of them. */
  models: string[] | null;
}

/** What `create` takes. */
export interface KeySpec {
  name: string;
  budgetUsd?: number;
  period?: Period;
  soft?: boolean;
  rpm?: number;
  tpm?: number;
  models?: string[];
}

/** A key's settings: its spec with the defaults filled in. */
export type KeySettings = Pick<ApiKey, "name" | "budgetUsd" | "period" | "soft" | "rpm" | "tpm" | "models">;

/** Names: letters, digits, `.`, `_`, `-`, up to 64; not starting with `key_`, which ids use. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function invalid(param: string, message: string): InferdError {
  return new InferdError("invalid_argument", message, { param });
}

/** Checks a spec and fills its defaults; every problem is a one-line invalid_argument naming the field. */
export function normalizeSpec(spec: KeySpec): KeySettings {
  if (!NAME.test(spec.name) || spec.name.startsWith("key_")) {
    throw invalid("name", `invalid key name ${JSON.stringify(spec.name)} (letters, digits, ".", "_", "-"; at most 64; not starting with "key_")`);
  }
  const budget = spec.budgetUsd;
  if (budget !== undefined && !(Number.isFinite(budget) && budget >= 0)) throw invalid("budget", `invalid budget ${budget} (must be a number of USD >= 0)`);
  if (spec.period !== undefined && !isPeriod(spec.period)) throw invalid("period", `invalid period ${JSON.stringify(spec.period)} (must be day or month)`);
  if (spec.soft && budget === undefined) throw invalid("soft", "a soft budget needs a budget (--budget USD)");
  for (const [field, v] of [["rpm", spec.rpm], ["tpm", spec.tpm]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw invalid(field, `invalid ${field} ${v} (must be an integer >= 1)`);
  }
  let models: string[] | null = null;
  if (spec.models !== undefined) {
    models = [...new Set(spec.models.map((m) => m.trim()))];
    if (models.length === 0 || models.some((m) => m === "")) throw invalid("models", "models must be a non-empty list of model names");
  }
  return {
    name: spec.name,
    budgetUsd: budget ?? null,
    period: spec.period ?? "month",
    soft: spec.soft ?? false,
    rpm: spec.rpm ?? null,
    tpm: spec.tpm ?? null,
    models,
  };
}

/** Whether the key may use `model` (its served name). */
export function allowsModel(key: ApiKey, model: string): boolean {
  return key.models === null || key.models.includes(model);
}

/**
 * The error for a model the key may not use. Worded like OpenAI's, as a 404: a key is not
 * told which models exist beyond its own.
 */
export function modelNotAllowed(key: ApiKey, model: string): InferdError {
  return new InferdError("model_not_found", `the model "${model}" does not exist or the key "${key.name}" does not have access to it`, { param: "model" });
}
