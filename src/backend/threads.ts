import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/**
 * CPUs this process may really use: the smaller of the scheduler affinity mask
 * (`os.availableParallelism`) and the cgroup CPU quota (containers often see the host's cores
 * but may only use a fraction of them). llama.cpp's worker threads spin while waiting, so one
 * thread more than the CPUs available collapses throughput (0.3 tok/s instead of 47 here).
 */
export function availableCpus(): number {
  let cpus = availableParallelism();
  const quota = cgroupCpuQuota();
  if (quota !== undefined) cpus = Math.min(cpus, Math.max(1, Math.floor(quota)));
  return Math.max(1, cpus);
}

/** cgroup v2 `cpu.max` ("max 100000" or "<quota> <period>"), else cgroup v1; undefined if unlimited. */
export function cgroupCpuQuota(): number | undefined {
  const v2 = readOrUndefined("/sys/fs/cgroup/cpu.max");
  if (v2 !== undefined) return parseQuota(v2);
  const q = readOrUndefined("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  const p = readOrUndefined("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (q === undefined || p === undefined) return undefined;
  return parseQuota(`${q.trim()} ${p.trim()}`);
}

/** Parses "<quota> <period>"; "max" or a negative quota mean no limit. */
export function parseQuota(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max" || period === undefined) return undefined;
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
