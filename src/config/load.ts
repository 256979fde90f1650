/**
 * Reading and checking a config file. Every problem is one line naming the file and the field
 * (`inferd.yaml: models[1].provider: ...`), found at start, before any model loads: a missing
 * key, an unknown provider, a fallback to nowhere, a local model file that is not there.
 */
import { readFile, stat } from "node:fs/promises";
import { isAbsolute, resolve, dirname, basename } from "node:path";
import { parse, YAMLParseError } from "yaml";
import type { z } from "zod";
import { InferdError } from "../util/errors.js";
import { CHECK_NAMES } from "../routing/route-parts.js";
import { checkRoutes } from "./routes.js";
import { configSchema, type Config } from "./schema.js";

/** A config as read: the file's content checked, paths resolved against the file's folder. */
export interface LoadedConfig {
  path: string;
  config: Config;
  /** Upstream keys by provider name, read from the environment (never logged). */
  keys: Map<string, string>;
}

/** Where the public APIs' keys are, when a provider names no variable of its own. */
const DEFAULT_KEY_ENV = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY" } as const;

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const file = basename(path);
  const bad = (where: string, what: string) => new InferdError("invalid_argument", `${file}: ${where}: ${what}`, { param: "config" });
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new InferdError("invalid_argument", `config file not found: ${path}`, { param: "config" });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? `line ${e.linePos[0].line}` : "YAML";
    throw bad(where, e instanceof Error ? e.message.split("\n")[0]! : String(e));
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw bad(pathOf(issue), issue.message);
  }
  const config = parsed.data;
  const providers = config.providers ?? {};
  if ("local" in providers) throw bad("providers.local", `"local" is the name of the models on this machine; choose another`);
  const names = new Set<string>();
  const keys = new Map<string, string>();
  for (const [name, p] of Object.entries(providers)) {
    // the public APIs take their usual variables; a server of your own needs a key only if you name one
    const variable = p.api_key_env ?? (p.base_url === undefined ? DEFAULT_KEY_ENV[p.type] : undefined);
    if (variable === undefined) continue;
    const key = env[variable]?.trim();
    if (key === undefined || key === "") throw bad(`providers.${name}${p.api_key_env === undefined ? "" : ".api_key_env"}`, `the environment variable ${variable} is not set`);
    keys.set(name, key);
  }
  for (const [i, m] of config.models.entries()) {
    if (names.has(m.name)) throw bad(`models[${i}].name`, `a second model named "${m.name}"`);
    names.add(m.name);
    if (m.provider !== "local" && !(m.provider in providers)) {
      throw bad(`models[${i}].provider`, `unknown provider "${m.provider}" (local${Object.keys(providers).map((p) => `, ${p}`).join("")})`);
    }
    if (m.provider === "local" && !m.model.startsWith("hf:") && !m.model.startsWith("synthetic:")) {
      m.model = isAbsolute(m.model) ? m.model : resolve(dirname(path), m.model);
      const st = await stat(m.model).catch(() => undefined);
      if (st === undefined || !st.isFile()) throw bad(`models[${i}].model`, `model file not found: ${m.model}`);
    }
  }
  for (const [i, m] of config.models.entries()) {
    for (const f of m.fallbacks ?? []) if (!names.has(f)) throw bad(`models[${i}].fallbacks`, `"${f}" is not a model`);
    if (m.tokenizer !== undefined && !config.models.some((o) => o.name === m.tokenizer && o.provider === "local")) {
      throw bad(`models[${i}].tokenizer`, `"${m.tokenizer}" is not a local model`);
    }
  }
  checkRoutes(config, path, { checkNames: CHECK_NAMES }, bad);
  if (config.server?.api_key_env !== undefined && !env[config.server.api_key_env]) {
    throw bad("server.api_key_env", `the environment variable ${config.server.api_key_env} is not set`);
  }
  return { path, config, keys };
}

function pathOf(issue: z.core.$ZodIssue): string {
  let out = "";
  for (const p of issue.path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  if (issue.code === "unrecognized_keys") return `${out ? `${out}.` : ""}${issue.keys.join(", ")}`;
  return out || "(top level)";
}
