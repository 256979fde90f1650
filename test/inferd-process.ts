/**
 * `inferd serve` as a child process for tests: started on a free port, resolved once it prints
 * where it listens, stopped with SIGTERM (and SIGKILL if it does not stop).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../src/util/paths.js";

export const BIN = join(packageRoot(), "bin", "inferd.js");

export interface InferdProcess {
  proc: ChildProcess;
  base: string;
  exit: Promise<number | null>;
  stderr(): string;
  stop(): Promise<void>;
}

export async function startInferd(args: string[], env: Record<string, string> = {}, command: string[] = [process.execPath, BIN]): Promise<InferdProcess> {
  const [cmd, ...pre] = command;
  const proc = spawn(cmd!, [...pre, "serve", "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"], cwd: packageRoot(), env: { ...process.env, ...env } });
  const exit = new Promise<number | null>((resolve) => proc.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  let stderr = "";
  const base = await new Promise<string>((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /on (http:\/\/[\d.]+:\d+)\n/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`inferd exited with ${code}: ${stderr}`)));
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    await exit;
    clearTimeout(t);
  };
  return { proc, base, exit, stderr: () => stderr, stop };
}
