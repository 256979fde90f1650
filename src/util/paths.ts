import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Root of inferd's cache (downloaded and synthetic models): `$INFERD_HOME`, else
 * `$XDG_CACHE_HOME/inferd`, else `~/.cache/inferd`. Read on every call so tests can point it
 * at a temporary folder.
 */
export function inferdHome(): string {
  if (process.env.INFERD_HOME) return process.env.INFERD_HOME;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), ".cache"), "inferd");
}

/** Folder holding cached model files. */
export function modelsDir(): string {
  return join(inferdHome(), "models");
}

/** The package root (the folder holding package.json), from this compiled file's location. */
export function packageRoot(): string {
  // dist/src/util/paths.js -> three levels up
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
}

/**
 * The shared test-model folder: `$INFERD_SHARED_MODELS`, else `../shared/models` beside the
 * checkout. Undefined when absent (a fresh clone elsewhere), so callers can skip or fall back.
 */
export function sharedModelsDir(): string | undefined {
  const dir = process.env.INFERD_SHARED_MODELS ?? resolve(packageRoot(), "..", "shared", "models");
  return existsSync(dir) ? dir : undefined;
}
