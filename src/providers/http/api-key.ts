/**
 * Upstream keys come from the environment, named in the config (`api_key_env: LAB_KEY`), so the
 * config file can be shared and committed without secrets. This resolves one, failing with a
 * single line that names the variable (and the upstream) but never shows a value.
 */
import { InferdError } from "../../util/errors.js";

/**
 * The key in `env[variable]`, trimmed (a key pasted or read from a file often ends in a newline).
 * Throws InferdError("invalid_argument") when the variable is unset or empty, or when the key has
 * whitespace or control characters inside (it would make an invalid or split HTTP header).
 */
export function resolveApiKey(upstream: string, variable: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    // Not echoed: a key pasted here by mistake would land in logs.
    throw new InferdError("invalid_argument", `${upstream}: api_key_env must name an environment variable (letters, digits and _), not hold the key itself`, { param: "api_key_env" });
  }
  const key = env[variable]?.trim();
  if (key === undefined || key === "") {
    throw new InferdError("invalid_argument", `${upstream}: environment variable ${variable} (its api_key_env) is unset or empty`, { param: "api_key_env" });
  }
  // Printable ASCII without spaces: what every hosted API's keys are, and what a header value may hold safely.
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new InferdError("invalid_argument", `${upstream}: environment variable ${variable} holds a key with spaces or non-printable characters`, { param: "api_key_env" });
  }
  return key;
}
