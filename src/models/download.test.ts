import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createProgressBar, downloadHf, parseHfSpec } from "./download.js";
import { isInferdError } from "../util/errors.js";

// A fake GGUF: the magic followed by ~300 KB of deterministic bytes.
const MODEL = Buffer.alloc(300 * 1024);
MODEL.write("GGUF", 0, "latin1");
for (let i = 4; i < MODEL.length; i++) MODEL[i] = (i * 31 + (i >> 8)) & 0xff;
const HTML = Buffer.from("<!doctype html><html><body>Sign in to continue</body></html>\n".repeat(20));
const CUT_AT = 100 * 1024;

interface Seen {
  url: string;
  range: string | undefined;
  auth: string | undefined;
}

let server: Server;
let port: number;
let home: string;
const seen: Seen[] = [];
const cutOnce = new Set<string>(); // flaky paths already cut once
let release: (() => void) | undefined; // lets the "slow" route finish

function serveBytes(req: IncomingMessage, res: ServerResponse, body: Buffer, honorRange = true): void {
  const range = req.headers.range;
  const m = honorRange && range ? /^bytes=(\d+)-$/.exec(range) : null;
  if (m) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { "Content-Range": `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      "Content-Length": body.length - start,
      "Content-Range": `bytes ${start}-${body.length - 1}/${body.length}`,
      "Accept-Ranges": "bytes",
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { "Content-Length": body.length, "Accept-Ranges": "bytes" });
  res.end(body);
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? "/";
  seen.push({ url, range: req.headers.range, auth: req.headers.authorization });
  const m = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(url);
  if (url.startsWith("/cdn/")) return serveBytes(req, res, MODEL);
  if (!m) {
    res.writeHead(404).end("no route");
    return;
  }
  const repo = m[2]!;
  switch (repo) {
    case "missing":
      res.writeHead(404, { "Content-Type": "text/plain" }).end("Entry not found");
      return;
    case "broken":
      res.writeHead(500).end("boom");
      return;
    case "redirect":
      res.writeHead(302, { Location: `/cdn/${m[3]}` }).end();
      return;
    case "html":
      serveBytes(req, res, HTML);
      return;
    case "norange":
      serveBytes(req, res, MODEL, false);
      return;
    case "private":
      if (req.headers.authorization !== "Bearer secret-token") {
        res.writeHead(401).end("unauthorized");
        return;
      }
      serveBytes(req, res, MODEL);
      return;
    case "flaky":
    case "slow": {
      if (!cutOnce.has(url)) {
        cutOnce.add(url);
        res.writeHead(200, { "Content-Length": MODEL.length });
        res.write(MODEL.subarray(0, CUT_AT), () => {
          if (repo === "flaky") res.socket?.destroy();
          else release = () => res.end(MODEL.subarray(CUT_AT));
        });
        return;
      }
      serveBytes(req, res, MODEL);
      return;
    }
    default:
      serveBytes(req, res, MODEL);
  }
}

async function expectError(p: Promise<unknown>, kind: string, re?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isInferdError(e), `expected an InferdError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.ok(!e.message.includes("\n"), "one-line message");
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected a ${kind} error`);
}

function cachePath(...parts: string[]): string {
  return join(home, "models", "hf", ...parts);
}

describe("downloadHf", () => {
  const saved = {
    home: process.env.INFERD_HOME,
    endpoint: process.env.INFERD_HF_ENDPOINT,
    token: process.env.HF_TOKEN,
  };

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "inferd-dl-"));
    process.env.INFERD_HOME = home;
    delete process.env.HF_TOKEN;
    server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
    process.env.INFERD_HF_ENDPOINT = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(home, { recursive: true, force: true });
    for (const [k, v] of [
      ["INFERD_HOME", saved.home],
      ["INFERD_HF_ENDPOINT", saved.endpoint],
      ["HF_TOKEN", saved.token],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test("downloads the whole file to the cache path, with progress", async () => {
    const calls: Array<[number, number | undefined]> = [];
    const path = await downloadHf("hf:owner/repo/model.gguf", { onProgress: (r, t) => calls.push([r, t]) });
    assert.equal(path, cachePath("owner", "repo", "model.gguf"));
    assert.deepEqual(await readFile(path), MODEL);
    assert.ok(!existsSync(`${path}.partial`));
    assert.ok(calls.length > 0);
    assert.deepEqual(calls[calls.length - 1], [MODEL.length, MODEL.length]);
    assert.equal(seen.at(-1)?.url, "/owner/repo/resolve/main/model.gguf");
    assert.equal(seen.at(-1)?.range, undefined);
  });

  test("a second call with the file present makes no request", async () => {
    const before = seen.length;
    const path = await downloadHf("hf:owner/repo/model.gguf");
    assert.equal(path, cachePath("owner", "repo", "model.gguf"));
    assert.equal(seen.length, before);
  });

  test("files in a subfolder of the repository", async () => {
    const path = await downloadHf("hf:owner/repo/sub/dir/m-Q4_K_M.gguf");
    assert.equal(path, cachePath("owner", "repo", "sub", "dir", "m-Q4_K_M.gguf"));
    assert.equal(seen.at(-1)?.url, "/owner/repo/resolve/main/sub/dir/m-Q4_K_M.gguf");
    assert.deepEqual(await readFile(path), MODEL);
  });

  test("follows redirects", async () => {
    const path = await downloadHf("hf:owner/redirect/model.gguf");
    assert.deepEqual(await readFile(path), MODEL);
    assert.equal(seen.at(-1)?.url, "/cdn/model.gguf");
  });

  test("an interrupted download keeps a .partial, and the next call resumes with Range", async () => {
    const spec = "hf:owner/flaky/model.gguf";
    const dest = cachePath("owner", "flaky", "model.gguf");
    await expectError(downloadHf(spec), "download_failed", /interrupted.*resume/);
    assert.ok(!existsSync(dest), "no file at the final path");
    const partialSize = (await stat(`${dest}.partial`)).size;
    assert.ok(partialSize > 0 && partialSize <= CUT_AT, `partial size ${partialSize}`);

    const progress: number[] = [];
    const path = await downloadHf(spec, { onProgress: (r) => progress.push(r) });
    assert.equal(path, dest);
    assert.equal(seen.at(-1)?.range, `bytes=${partialSize}-`);
    assert.equal(progress[0], partialSize, "progress counts resumed bytes");
    assert.deepEqual(await readFile(path), MODEL);
    assert.ok(!existsSync(`${dest}.partial`));
  });

  test("a server ignoring Range (200) restarts from zero", async () => {
    const dest = cachePath("owner", "norange", "model.gguf");
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(`${dest}.partial`, MODEL.subarray(0, 5000));
    const path = await downloadHf("hf:owner/norange/model.gguf");
    assert.equal(seen.at(-1)?.range, "bytes=5000-");
    assert.deepEqual(await readFile(path), MODEL);
  });

  test("416 on a complete partial finishes it; on a stale partial restarts", async () => {
    const dest = cachePath("owner", "complete", "model.gguf");
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(`${dest}.partial`, MODEL);
    assert.deepEqual(await readFile(await downloadHf("hf:owner/complete/model.gguf")), MODEL);
    assert.equal(seen.at(-1)?.range, `bytes=${MODEL.length}-`);

    const dest2 = cachePath("owner", "stale", "model.gguf");
    await mkdir(dirname(dest2), { recursive: true });
    await writeFile(`${dest2}.partial`, Buffer.concat([MODEL, Buffer.alloc(10)]));
    assert.deepEqual(await readFile(await downloadHf("hf:owner/stale/model.gguf")), MODEL);
    assert.equal(seen.at(-1)?.range, undefined, "restarted without Range");
  });

  test("abort keeps the partial and leaves no final file", async () => {
    const ac = new AbortController();
    const dest = cachePath("owner", "slow", "model.gguf");
    const p = downloadHf("hf:owner/slow/model.gguf", {
      signal: ac.signal,
      onProgress: (r) => {
        if (r >= CUT_AT) ac.abort();
      },
    });
    await expectError(p, "aborted");
    release?.();
    assert.ok(!existsSync(dest));
    assert.equal((await stat(`${dest}.partial`)).size, CUT_AT);
  });

  test("404 -> model_not_found", async () => {
    await expectError(
      downloadHf("hf:owner/missing/model.gguf"),
      "model_not_found",
      /hf:owner\/missing\/model\.gguf not found on Hugging Face \(HTTP 404\): http:\/\/127\.0\.0\.1:\d+\/owner\/missing\/resolve\/main\/model\.gguf/,
    );
    assert.ok(!existsSync(cachePath("owner", "missing", "model.gguf")));
  });

  test("500 -> download_failed", async () => {
    await expectError(downloadHf("hf:owner/broken/model.gguf"), "download_failed", /HTTP 500/);
    assert.ok(!existsSync(cachePath("owner", "broken", "model.gguf")));
  });

  test("401 -> download_failed mentioning HF_TOKEN; HF_TOKEN is sent as a Bearer token", async () => {
    await expectError(downloadHf("hf:owner/private/model.gguf"), "download_failed", /HTTP 401.*HF_TOKEN/);
    process.env.HF_TOKEN = "secret-token";
    try {
      const path = await downloadHf("hf:owner/private/model.gguf");
      assert.equal(seen.at(-1)?.auth, "Bearer secret-token");
      assert.deepEqual(await readFile(path), MODEL);
    } finally {
      delete process.env.HF_TOKEN;
    }
  });

  test("connection refused -> offline", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    process.env.INFERD_HF_ENDPOINT = `http://127.0.0.1:${deadPort}`;
    try {
      await expectError(
        downloadHf("hf:owner/repo/other.gguf"),
        "offline",
        new RegExp(`^cannot reach 127\\.0\\.0\\.1:${deadPort} to download hf:owner/repo/other\\.gguf \\(offline\\?\\)`),
      );
    } finally {
      process.env.INFERD_HF_ENDPOINT = `http://127.0.0.1:${port}`;
    }
    assert.ok(!existsSync(cachePath("owner", "repo", "other.gguf")));
  });

  test("non-GGUF content -> invalid_model, nothing kept", async () => {
    const dest = cachePath("owner", "html", "model.gguf");
    await expectError(downloadHf("hf:owner/html/model.gguf"), "invalid_model", /not a GGUF/);
    assert.ok(!existsSync(dest));
    assert.ok(!existsSync(`${dest}.partial`));
  });

  test("malformed specs -> invalid_argument", async () => {
    for (const spec of [
      "x",
      "hf:x",
      "hf:owner/repo",
      "hf:owner/repo/model.bin",
      "hf:owner/repo/../model.gguf",
      "hf:owner//model.gguf",
      "hf:../repo/model.gguf",
      "hf:owner/repo/.gguf",
    ]) {
      await expectError(downloadHf(spec), "invalid_argument", /expected hf:<owner>\/<repo>\/<file>\.gguf/);
    }
    assert.deepEqual(parseHfSpec("hf:a/b/c/d.gguf"), { owner: "a", repo: "b", file: "c/d.gguf", revision: "main" });
  });
});

describe("createProgressBar", () => {
  test("never writes to stdout; off a TTY prints at most ~one line per 10%", () => {
    const outWrite = process.stdout.write;
    const errWrite = process.stderr.write;
    const wasTTY = process.stderr.isTTY;
    const errLines: string[] = [];
    let outCalls = 0;
    process.stdout.write = (() => {
      outCalls++;
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => {
      errLines.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      (process.stderr as { isTTY?: boolean }).isTTY = false;
      const bar = createProgressBar("model.gguf");
      for (let r = 0; r <= 1000; r += 7) bar(r, 1000);
      bar(1000, 1000);
      bar.done();
      const unknown = createProgressBar("x");
      unknown(100, undefined);
      unknown.done();

      (process.stderr as { isTTY?: boolean }).isTTY = true;
      const ttyBar = createProgressBar("tty");
      ttyBar(0, 5_000_000);
      ttyBar(5_000_000, 5_000_000);
    } finally {
      process.stdout.write = outWrite;
      process.stderr.write = errWrite;
      (process.stderr as { isTTY?: boolean }).isTTY = wasTTY;
    }
    assert.equal(outCalls, 0);
    const plain = errLines.filter((l) => l.includes("model.gguf"));
    assert.ok(plain.length >= 2 && plain.length <= 11, `${plain.length} lines`);
    assert.match(plain.at(-1)!, /100% .*MB/);
    assert.ok(!errLines.some((l) => l.startsWith("x ")), "nothing for an unknown total off a TTY");
    const tty = errLines.filter((l) => l.includes("tty"));
    assert.ok(tty.length >= 1 && tty.every((l) => l.startsWith("\r")));
    assert.match(tty.at(-1)!, /100% 5\.0\/5\.0 MB/);
    assert.equal(errLines.at(-1), "\n", "a finished TTY bar ends its line");
  });
});
