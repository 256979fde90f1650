/**
 * A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `pg_ctl start` on a
 * free port of 127.0.0.1 (its unix socket in the folder too), trust authentication for user
 * "inferd". `stop()` stops it at once (`pg_ctl stop -m immediate`) and removes the folder.
 *
 * PostgreSQL refuses to run as root. Under root (CI here runs as root) initdb, pg_ctl and so the
 * server run as the `postgres` user (Debian's package makes it; else `nobody`), through spawn's
 * uid/gid (no runuser/su needed), in a folder chowned to that user.
 *
 * Cleanup even when the test process dies: a detached watchdog shell waits for this process to
 * end and then stops the server (SIGQUIT to the postmaster: immediate shutdown) and removes the
 * folder; a clean stop() ends the watchdog first.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./free-port.js";

export interface PostgresServer {
  /** URL of the server's "postgres" database. */
  url: string;
  port: number;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (immediate mode) and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/** The folder with initdb and pg_ctl: $INFERD_PG_BIN, PATH, Debian's /usr/lib/postgresql/N/bin (newest), pg_config --bindir. */
export function findPgBin(): string | undefined {
  const has = (dir: string) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"));
  const env = process.env.INFERD_PG_BIN;
  if (env) return has(env) ? env : undefined;
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && has(dir)) return dir;
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(debian, v, "bin"))) return join(debian, v, "bin");
  }
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (has(dir)) return dir;
  } catch {
    // no pg_config on PATH: there is no PostgreSQL to find
  }
  return undefined;
}

/** For `describe(name, needsPostgres, ...)`: skipped, saying why, only when no initdb is installed. */
export const needsPostgres: { skip: string | false } = { skip: findPgBin() ? false : "PostgreSQL's initdb not found (PATH, /usr/lib/postgresql/*/bin, pg_config, $INFERD_PG_BIN)" };

/** Who runs the server: this process, or (under root) an unprivileged user. */
function serverUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    try {
      const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
      return { uid: id("-u"), gid: id("-g"), name };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as");
}

/** A temporary folder the server's user can write: tmpdir() unless that user cannot reach it. */
function makeDir(user: ReturnType<typeof serverUser>): string {
  for (const base of [tmpdir(), "/tmp", "/var/tmp"]) {
    const dir = mkdtempSync(join(base, "inferd-pg-"));
    if (!user) return dir;
    chownSync(dir, user.uid, user.gid);
    try {
      // an ancestor closed to others (e.g. a TMPDIR under /root) would stop the server's user
      execFileSync("test", ["-w", dir, "-a", "-x", dir], { uid: user.uid, gid: user.gid, stdio: "ignore" });
      return dir;
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`no temporary folder the ${user!.name} user can write`);
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPgBin();
  if (!bin) throw new Error(needsPostgres.skip || "initdb not found");
  const user = serverUser();
  const dir = makeDir(user);
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const run = (tool: string, args: string[]) =>
    promisify(execFile)(join(bin, tool), args, { ...as, cwd: dir, timeout: 60_000, env: { ...process.env, LC_ALL: "C" } }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`${tool} failed: ${e.stderr || e.message}${existsSync(log) ? `\nserver log:\n${readFileSync(log, "utf8")}` : ""}`);
    });
  // the watchdog: stops the server and removes the folder if this process dies without stop()
  const watchdog = spawn(
    "sh",
    ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; p=$(head -n1 "$0/postmaster.pid" 2>/dev/null) && kill -QUIT "$p"; sleep 2; rm -rf "$1"`, data, dir],
    { detached: true, stdio: "ignore" },
  );
  watchdog.unref();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (existsSync(join(data, "postmaster.pid"))) await run("pg_ctl", ["-D", data, "stop", "-m", "immediate", "-w", "-t", "30"]);
    } finally {
      try {
        if (watchdog.pid !== undefined) process.kill(-watchdog.pid, "SIGKILL");
      } catch {
        // the watchdog is gone already (nothing left to end)
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await run("initdb", ["-D", data, "-U", "inferd", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // appended settings win over initdb's; fsync off: the server is thrown away (its own durability is not under test)
      appendFileSync(
        join(data, "postgresql.conf"),
        `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\nfull_page_writes = off\n` +
          `shared_buffers = 16MB\nmax_connections = 30\nmax_wal_size = 64MB\n`,
      );
      try {
        await run("pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "start"]);
        break;
      } catch (e) {
        // another process took the port between freePort and the bind: take another
        if (attempt >= 3 || !/could not (bind|create listen socket)|Address already in use/i.test(String(e))) throw e;
      }
    }
    const url = `postgres://inferd@127.0.0.1:${port}/postgres`;
    const createDatabase = async (name: string): Promise<string> => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://inferd@127.0.0.1:${port}/${name}`;
    };
    return { url, port, createDatabase, stop };
  } catch (e) {
    await stop().catch((s: unknown) => process.stderr.write(`[postgres] cleanup after a failed start failed too: ${String(s)}\n`));
    throw e;
  }
}
