import { InferdError, isInferdError } from "../util/errors.js";
import { createProgressBar, downloadHf } from "./download.js";
import { ensureSyntheticModel } from "./synthetic.js";

/** The model `inferd run` uses when none is named: small, instruct-tuned, quantized. */
export const DEFAULT_MODEL = "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf";

export interface ResolveOptions {
  /** Draw download / generation progress on stderr. */
  progress?: boolean;
  signal?: AbortSignal;
}

/**
 * Turns a model reference into a local GGUF path: a file path as is, `hf:<owner>/<repo>/<file>`
 * downloaded into the cache (once), `synthetic:<shape>[-<quant>]` written into the cache (once).
 * Without a reference, the default model; offline with nothing cached, the error names the
 * ways on.
 */
export async function resolveModel(spec: string | undefined, opts: ResolveOptions = {}): Promise<string> {
  if (spec === undefined || spec === "") {
    try {
      return await resolveModel(DEFAULT_MODEL, opts);
    } catch (e) {
      if (isInferdError(e, "offline")) {
        throw new InferdError(
          "offline",
          `no model given and the default (${DEFAULT_MODEL}) is not cached and cannot be downloaded (offline?); ` +
            `use --model with a local .gguf path, hf:<owner>/<repo>/<file>.gguf, or synthetic:smollm2-135m (needs no download)`,
        );
      }
      throw e;
    }
  }
  if (spec.startsWith("hf:")) {
    return downloadHf(spec, {
      onProgress: opts.progress ? createProgressBar(spec) : undefined,
      signal: opts.signal,
    });
  }
  if (spec.startsWith("synthetic:")) {
    return ensureSyntheticModel(spec);
  }
  return spec;
}
