/**
 * The dashboard in a real browser: `inferd serve` (a child process, virtual keys on, an admin
 * key) takes a known mixed load (two keys, streamed and whole answers, a routed request, a
 * refusal), then headless Chromium (Debian's `chromium`, driven by playwright-core) opens
 * /dashboard: no console errors, its figures are the ledger's (as `inferd usage --format json`
 * reports them), and it updates when a new request lands. The same script saves the README's
 * screenshot when INFERD_DASHBOARD_SCREENSHOT names a file.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { BIN, startInferd, type InferdProcess } from "./inferd-process.js";
import { needsShared, sharedModel } from "./shared.js";

const run = promisify(execFile);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const needs = needsShared.skip !== undefined ? needsShared : CHROMIUM === undefined ? { skip: "no chromium (Debian package chromium; .ci/run installs it)" } : {};
const ADMIN = "admin-secret-for-tests";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe("the dashboard in a real browser", needs, () => {
  let home = "";
  let server: InferdProcess;
  let browser: Browser;
  const keys: Record<string, string> = {};
  const cli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args], { env: { ...process.env, INFERD_HOME: home } })).stdout;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "inferd-dashboard-"));
    const config = join(home, "inferd.yaml");
    await writeFile(
      config,
      [
        "auth: keys",
        "models:",
        `  - { name: small, provider: local, model: ${sharedModel("stories260K.gguf")} }`,
        `  - { name: big, provider: local, model: ${sharedModel("llama-2-tiny-random.gguf")} }`,
        "routes:",
        "  - { name: auto, policy: cascade, candidates: [small, big] }",
        "",
      ].join("\n"),
    );
    for (const [name, extra] of [["team-a", ["--budget", "5", "--period", "month"]], ["team-b", []]] as const) {
      keys[name] = (await cli("keys", "create", "--name", name, ...extra)).trim().split("\n").at(-1)!;
    }
    server = await startInferd(["--config", config, "--admin-key", ADMIN], { INFERD_HOME: home });
    browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-gpu"] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const post = (key: string, body: object) =>
    fetch(`${server.base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${keys[key]}` }, body: JSON.stringify({ temperature: 0, max_tokens: 12, ...body }) });

  it("asks for the admin key, and refuses a wrong one", async () => {
    assert.equal((await fetch(`${server.base}/dashboard`)).status, 401);
    assert.match((await fetch(`${server.base}/dashboard`)).headers.get("www-authenticate") ?? "", /^Basic /);
    assert.equal((await fetch(`${server.base}/dashboard/api/overview`, { headers: { authorization: `Bearer ${keys["team-a"]}` } })).status, 401);
    const ok = await fetch(`${server.base}/dashboard/api/overview`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as Json).totals.requests, 0);
  });

  it("shows the ledger's figures after a mixed load, without console errors, and updates live", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await post("team-a", { model: "small", prompt: `Once upon a time ${i}` })).status, 200);
    for (let i = 0; i < 2; i++) {
      const res = await post("team-b", { model: "small", prompt: "Lily saw", stream: true });
      assert.equal(res.status, 200);
      await res.text();
    }
    assert.equal((await post("team-b", { model: "auto", prompt: "zzqx 42" })).status, 200);
    assert.equal((await post("team-a", { model: "nope", prompt: "x" })).status, 404);
    const usage = JSON.parse(await cli("usage", "--by", "model", "--format", "json")) as Json[];
    const requests = usage.reduce((s, r) => s + r.requests, 0);
    const cost = usage.reduce((s, r) => s + (r.cost_usd ?? 0), 0);
    const output = usage.reduce((s, r) => s + r.output_tokens, 0);
    assert.equal(requests, 7);

    const context = await browser.newContext({ httpCredentials: { username: "admin", password: ADMIN }, viewport: { width: 1280, height: 1800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.base}/dashboard?refresh=300`);
    await page.waitForFunction(`document.getElementById("total-requests")?.textContent === "${requests}"`);
    const text = async (sel: string) => (await page.locator(sel).textContent())?.trim();
    assert.equal(await text("#total-cost"), `$${cost < 0.01 && cost > 0 ? cost.toPrecision(3) : cost.toFixed(4)}`);
    assert.equal(await text("#total-output"), output.toLocaleString("en-US"));
    assert.equal(await text("#tok-output"), output.toLocaleString("en-US"));
    // every request is in the table, the routed one with its decision, the refusal with its status
    assert.equal(await page.locator("#recent tbody tr").count(), requests);
    assert.match((await text("#recent tbody")) ?? "", /policy=cascade; model=(small|big); outcome=(accepted|escalated)/);
    assert.match((await text("#recent tbody")) ?? "", /refused 404/);
    // per model, as inferd usage reports it
    for (const r of usage) {
      const row = page.locator("#by-model tbody tr", { hasText: r.model });
      assert.match((await row.textContent()) ?? "", new RegExp(`^${r.model}${r.requests}`));
    }
    // budgets per key: team-a's monthly $5
    assert.match((await text("#budgets tbody")) ?? "", /team-a\$[\d.e-]+\$5\.0000 \/ month/);
    // four charts drawn
    assert.equal(await page.locator(".chart canvas").count(), 4);

    assert.equal((await post("team-a", { model: "small", prompt: "One day" })).status, 200);
    await page.waitForFunction(`document.getElementById("total-requests")?.textContent === "${requests + 1}"`);
    const shot = process.env.INFERD_DASHBOARD_SCREENSHOT;
    if (shot !== undefined) await page.screenshot({ path: shot, fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  });
});
