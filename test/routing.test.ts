/**
 * Routing live, over HTTP, on real models: a config with two local models (stories260K, the
 * small one; llama-2-tiny-random, the "large" one) and routes over them. The cascade accepts
 * stories260K's answer where its token confidence is high (a story opening, in its training
 * distribution) and escalates where it is low (noise), and each answer is the one its model
 * gives when asked directly. Every routed response says where it went (x-inferd-route), and
 * the ledger row of an escalated request counts and prices both calls.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serve } from "@hono/node-server";
import { buildGateway } from "../src/config/build.js";
import { loadConfig } from "../src/config/load.js";
import { Ledger } from "../src/ledger/ledger.js";
import { SqliteStore } from "../src/ledger/sqlite-store.js";
import { priceBook } from "../src/pricing/price-book.js";
import { priceTable } from "../src/pricing/table.js";
import { createApp } from "../src/server/app.js";
import { loadDataset } from "../src/routing/eval/dataset.js";
import { train } from "../src/routing/eval/evaluate.js";
import { saveRouterModel } from "../src/routing/learned.js";
import { packageRoot } from "../src/util/paths.js";
import { needsShared, sharedModel } from "./shared.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CONFIDENT = "Once upon a time";
const NOISE = "zzqx 42 %% $$";

describe("routes over two local models", needsShared, () => {
  let base = "";
  let server: Server;
  let ledger: Ledger;
  let store: SqliteStore;
  let close: () => Promise<void>;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "inferd-routing-"));
    const path = join(dir, "inferd.yaml");
    // a router trained on the fixture: chemistry needs the large model, geography does not
    saveRouterModel(join(dir, "router.json"), train(loadDataset(join(packageRoot(), "test", "fixtures", "routellm-mmlu-mini.csv")), "prompt"));
    await writeFile(
      path,
      [
        "models:",
        `  - { name: small, provider: local, model: ${sharedModel("stories260K.gguf")} }`,
        `  - { name: big, provider: local, model: ${sharedModel("llama-2-tiny-random.gguf")} }`,
        "routes:",
        // stories260K's 10th-percentile token probability: ~0.59 on a story opening, ~0.09 on noise
        "  - { name: auto, policy: cascade, candidates: [small, big], cascade: { quantile: 0.1, threshold: 0.3 } }",
        '  - { name: formatted, policy: cascade, candidates: [small, big], cascade: { threshold: 0, regex: "^####" } }',
        "  - { name: learned, policy: learned, candidates: [small, big], learned: { file: router.json, threshold: 0.5 } }",
        "  - { name: gsm, policy: cascade, candidates: [small, big], cascade: { threshold: 0, check: gsm8k } }",
        "  - name: ruled",
        "    policy: rules",
        "    candidates: [small, big]",
        "    rules: [{ when: { tag: hard }, model: big }, { when: { max_prompt_tokens: 8 }, model: small }]",
        "    default: big",
        "",
      ].join("\n"),
    );
    const loaded = await loadConfig(path);
    const gateway = buildGateway(loaded);
    store = await SqliteStore.open(join(dir, "ledger.sqlite"));
    ledger = new Ledger(store, { batchMs: 2 });
    const book = priceBook(loaded.config.models, priceTable());
    const app = createApp({ gateway, accounting: { book, ledger } });
    server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await ledger.close();
      await gateway.close();
    };
  });
  after(() => close());

  const complete = async (model: string, prompt: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ model, prompt, max_tokens: 24, temperature: 0, ...extra }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return { res, body: (await res.json()) as Json };
  };
  const rowOf = async (res: Response) => {
    await ledger.flush();
    const rows = await store.recent(100, {});
    const row = rows.find((r) => r.requestId === res.headers.get("x-request-id"));
    assert.ok(row, "the request has a ledger row");
    return row;
  };

  it("the cascade accepts the small model's confident answer: its own text, its own row", async () => {
    const direct = await complete("small", CONFIDENT);
    const routed = await complete("auto", CONFIDENT);
    assert.equal(routed.body.choices[0].text, direct.body.choices[0].text);
    assert.equal(routed.res.headers.get("x-inferd-model"), "small");
    const route = routed.res.headers.get("x-inferd-route")!;
    assert.match(route, /^policy=cascade; model=small; outcome=accepted; over=big; confidence=0\.\d+; reason=checks passed, q0\.1 p/);
    // the client asked for no logprobs: the cascade's own are not shown
    assert.equal(routed.body.choices[0].logprobs, null);
    const row = await rowOf(routed.res);
    assert.equal(row.route, route);
    assert.equal(row.model, "small");
    assert.equal(row.outputTokens, direct.body.usage.completion_tokens);
  });

  it("the cascade escalates a low-confidence answer: the large model's text; the row counts and prices both calls", async () => {
    const small = await complete("small", NOISE);
    const big = await complete("big", NOISE);
    assert.notEqual(small.body.choices[0].text, big.body.choices[0].text);
    const routed = await complete("auto", NOISE);
    assert.equal(routed.body.choices[0].text, big.body.choices[0].text);
    assert.equal(routed.res.headers.get("x-inferd-model"), "big");
    assert.match(routed.res.headers.get("x-inferd-route")!, /^policy=cascade; model=big; outcome=escalated; confidence=0\.0\d+; reason=q0\.1 p 0\.0\d+ < 0\.3$/);
    // the client's usage is the answer's; the row's tokens are every token paid for
    assert.equal(routed.body.usage.completion_tokens, big.body.usage.completion_tokens);
    const row = await rowOf(routed.res);
    assert.equal(row.outputTokens, small.body.usage.completion_tokens + big.body.usage.completion_tokens);
    assert.equal(row.inputTokens, small.body.usage.prompt_tokens + big.body.usage.prompt_tokens);
    const bigRow = await rowOf(big.res);
    // both calls ran on this machine at its hourly price: the escalated row costs more than the large call alone would have
    assert.ok(row.costUsd !== null && bigRow.costUsd !== null && row.costUsd > 0);
    assert.equal(routed.body.usage.cost, row.costUsd);
  });

  it("streams an escalated answer only after the decision, as the large model's stream", async () => {
    const big = await complete("big", NOISE);
    const res = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "auto", prompt: NOISE, max_tokens: 24, temperature: 0, stream: true }),
    });
    assert.match(res.headers.get("x-inferd-route")!, /outcome=escalated/);
    let text = "";
    for (const line of (await res.text()).split("\n")) {
      if (!line.startsWith("data: {")) continue;
      text += (JSON.parse(line.slice(6)) as Json).choices[0]?.text ?? "";
    }
    assert.equal(text, big.body.choices[0].text);
  });

  it("a route's own check escalates an answer that fails it, with logprobs when the client asks", async () => {
    const routed = await complete("formatted", CONFIDENT, { logprobs: 1 });
    assert.match(routed.res.headers.get("x-inferd-route")!, /outcome=escalated; .*reason=answer does not match \/\^####\//);
    assert.equal(routed.body.choices[0].logprobs.tokens.length, routed.body.usage.completion_tokens);
  });

  it("rules route by tag and prompt length; /v1/models lists the routes", async () => {
    assert.equal((await complete("ruled", "hi")).res.headers.get("x-inferd-model"), "small");
    assert.equal((await complete("ruled", "hi", {}, { "x-inferd-tag": "hard" })).res.headers.get("x-inferd-model"), "big");
    const long = await complete("ruled", CONFIDENT.repeat(4));
    assert.equal(long.res.headers.get("x-inferd-route"), "policy=rules; model=big; reason=no rule held: default");
    const models = (await (await fetch(`${base}/v1/models`)).json()) as Json;
    assert.deepEqual(
      models.data.map((m: Json) => [m.id, m.owned_by]),
      [["small", "local"], ["big", "local"], ["auto", "inferd"], ["formatted", "inferd"], ["learned", "inferd"], ["gsm", "inferd"], ["ruled", "inferd"]],
    );
  });

  it("a learned route sends what its trained router scores high to the large model", async () => {
    const chem = await complete("learned", "What is the molar mass of water?\nA. 18 g/mol\nB. 16 g/mol\nAnswer:");
    assert.equal(chem.res.headers.get("x-inferd-model"), "big");
    assert.match(chem.res.headers.get("x-inferd-route")!, /^policy=learned; model=big; confidence=0\.\d+; reason=score 0\.\d+ >= 0\.5$/);
    const geo = await complete("learned", "What is the capital of France?\nA. Paris\nB. Rome\nAnswer:");
    assert.equal(geo.res.headers.get("x-inferd-model"), "small");
  });

  it("a cascade with the gsm8k check escalates an answer with no final answer", async () => {
    const routed = await complete("gsm", CONFIDENT);
    assert.match(routed.res.headers.get("x-inferd-route")!, /outcome=escalated; reason=no final answer \(#### N\)$/);
  });
});
