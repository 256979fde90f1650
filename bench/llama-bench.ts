/**
 * llama.cpp's own `llama-bench`, built from the llama.cpp source that node-llama-cpp ships
 * (`node_modules/node-llama-cpp/llama/gitRelease.bundle`, the release its prebuilt binaries
 * come from), so the peer's kernels are the ones inferd runs. Built once into
 * ~/.cache/inferd/llama-bench/<release>/; needs git, cmake and a C++ compiler.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { availableCpus } from "../src/backend/threads.js";

/** The path of a built llama-bench, building it first if need be (several minutes on 2 cores). */
export function ensureLlamaBench(): string {
  // the package exports only its entry point, dist/index.js
  const llamaDir = join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..", "llama");
  const tag = (JSON.parse(readFileSync(join(llamaDir, "llama.cpp.info.json"), "utf8")) as { tag: string }).tag;
  const root = join(homedir(), ".cache", "inferd", "llama-bench", tag);
  const bin = join(root, "build", "bin", "llama-bench");
  if (existsSync(bin)) return bin;
  console.error(`building llama-bench from node-llama-cpp's llama.cpp source (${tag}) in ${root}; this takes several minutes`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  run("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", join(llamaDir, "gitRelease.bundle"), "src"]);
  // GGML_NATIVE: node-llama-cpp's prebuilt binary loads the CPU variant built for this processor at run time
  run("cmake", ["-S", "src", "-B", "build", "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"]);
  run("cmake", ["--build", "build", "--target", "llama-bench", "-j", String(availableCpus())]);
  return bin;
}

export interface LlamaBenchCase {
  /** Tokens computed and timed. */
  prompt: number;
  /** Tokens already in KV before them (llama-bench's --n-depth), not timed. */
  depth: number;
}

/**
 * Milliseconds one llama-bench run takes to compute `prompt` tokens after `depth` tokens, with
 * flash attention on (inferd's "auto" resolves to on for the CPU) and `batch` tokens per batch
 * and ubatch, as inferd's contexts use.
 */
export function llamaBenchMs(bin: string, model: string, threads: number, c: LlamaBenchCase, batch = 512): number {
  const out = execFileSync(bin, [
    "-m", model, "-t", String(threads), "-fa", "1", "-b", String(batch), "-ub", String(batch),
    "-p", String(c.prompt), "-d", String(c.depth), "-n", "0", "-r", "1", "-o", "json",
  ], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 24 });
  const [result] = JSON.parse(out) as { avg_ns: number }[];
  if (result === undefined) throw new Error(`llama-bench printed no result for pp${c.prompt} @ d${c.depth}`);
  return result.avg_ns / 1e6;
}
