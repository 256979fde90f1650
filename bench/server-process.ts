/** `inferd serve` in its own process, for benchmarks that drive it over HTTP. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../src/util/paths.js";

/** Starts `inferd serve --model M` on a free port; resolves once it listens, with its URL and model id. */
export async function startServer(model: string, flags: string[]): Promise<{ proc: ChildProcess; base: string; model: string }> {
  const bin = join(packageRoot(), "bin", "inferd.js");
  const proc = spawn(process.execPath, [bin, "serve", "--model", model, "--port", "0", "--max-queue", "100000", ...flags], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /serving (\S+) on (http:\/\/[\d.]+:\d+)\n/.exec(stderr);
      if (m) resolve(m);
    });
    proc.on("exit", (code) => reject(new Error(`inferd serve exited with ${code}: ${stderr}`)));
  });
  return { proc, base: m[2]!, model: m[1]! };
}

/** SIGTERM, and wait for the exit. */
export async function stopServer(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.on("exit", r));
  proc.kill("SIGTERM");
  await exited;
}
