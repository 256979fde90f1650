import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isInferdError } from "../util/errors.js";
import { loadConfig } from "./load.js";

async function write(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "inferd-config-"));
  await writeFile(join(dir, "model.gguf"), "GGUF");
  const path = join(dir, "inferd.yaml");
  await writeFile(path, text);
  return path;
}

const GOOD = `
providers:
  lab:    { type: openai, base_url: "http://127.0.0.1:8001/v1", api_key_env: LAB_KEY }
  claude: { type: anthropic, api_key_env: ANTHROPIC_API_KEY }
models:
  - { name: small, provider: local, model: model.gguf }
  - { name: big, provider: lab, model: stories260K, fallbacks: [small] }
  - { name: sonnet, provider: claude, model: claude-sonnet-4-5 }
`;

/** Asserts that loading fails with one line containing every one of `parts`. */
async function fails(text: string, env: Record<string, string>, ...parts: string[]) {
  await assert.rejects(loadConfig(await write(text), env), (e) => {
    assert.ok(isInferdError(e, "invalid_argument"), String(e));
    assert.ok(!e.message.includes("\n"), "one line");
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} should name ${p}`);
    return true;
  });
}

describe("config", () => {
  const env = { LAB_KEY: "sk-lab-secret", ANTHROPIC_API_KEY: "sk-ant-secret" };

  it("the issue's example loads: keys from the environment, local paths resolved beside the file", async () => {
    const path = await write(GOOD);
    const { config, keys } = await loadConfig(path, env);
    assert.equal(config.models.length, 3);
    assert.equal(config.models[0]!.model, join(path, "..", "model.gguf"));
    assert.equal(keys.get("lab"), "sk-lab-secret");
  });

  it("a missing key, an unknown provider or model, a bad fallback, a typo: one line naming the field", async () => {
    await fails(GOOD, { LAB_KEY: "x" }, "inferd.yaml", "providers.claude.api_key_env", "ANTHROPIC_API_KEY");
    await fails(GOOD.replace("provider: lab", "provider: labx"), env, "models[1].provider", "labx");
    await fails(GOOD.replace("fallbacks: [small]", "fallbacks: [tiny]"), env, "models[1].fallbacks", "tiny");
    await fails(GOOD.replace("model: model.gguf", "model: missing.gguf"), env, "models[0].model", "missing.gguf");
    await fails(GOOD.replace("base_url:", "base_ur:"), env, "providers.lab", "base_ur");
    await fails(GOOD.replace("type: openai", "type: cohere"), env, "providers.lab.type");
    await fails(GOOD + "  - { name: small, provider: local, model: model.gguf }\n", env, "models[3].name", "small");
    await fails("models: [\n", env, "inferd.yaml");
    await fails(GOOD.replace("fallbacks: [small]", "tokenizer: sonnet"), env, "models[1].tokenizer", "sonnet");
  });

  it("public APIs take OPENAI_API_KEY / ANTHROPIC_API_KEY by default; a server of one's own needs none", async () => {
    const text = `providers:\n  oa: { type: openai }\n  own: { type: openai, base_url: "http://127.0.0.1:9/v1" }\nmodels:\n  - { name: a, provider: oa, model: gpt-4o }\n  - { name: b, provider: own, model: m }\n`;
    await fails(text, {}, "providers.oa", "OPENAI_API_KEY");
    const { keys } = await loadConfig(await write(text), { OPENAI_API_KEY: " sk-1 " });
    assert.equal(keys.get("oa"), "sk-1");
    assert.equal(keys.has("own"), false);
  });

  it("the key never appears in an error", async () => {
    try {
      await loadConfig(await write(GOOD.replace("type: openai", "type: 7")), env);
      assert.fail("should fail");
    } catch (e) {
      assert.doesNotMatch(String(e), /sk-lab-secret|sk-ant-secret/);
    }
  });
  it("routes: each problem names its field", async () => {
    const routed = (r: string) => `${GOOD}routes:\n  - ${r}\n`;
    await fails(routed("{ name: small, policy: cheapest, candidates: [small] }"), env, "routes[0].name", "already the name");
    await fails(routed("{ name: auto, policy: cheapest, candidates: [small, nope] }"), env, "routes[0].candidates[1]", '"nope" is not a model');
    await fails(routed("{ name: auto, policy: cascade, candidates: [small] }"), env, "routes[0].candidates", "two candidates");
    await fails(routed("{ name: auto, policy: rules, candidates: [small, big] }"), env, "routes[0].rules", "at least one rule");
    await fails(routed("{ name: auto, policy: rules, candidates: [small, big], rules: [{ when: { tools: true }, model: sonnet }] }"), env, "routes[0].rules[0].model", "not a candidate");
    await fails(routed("{ name: auto, policy: cascade, candidates: [small, big], cascade: { regex: \"(\" } }"), env, "routes[0].cascade.regex");
    await fails(routed("{ name: auto, policy: cascade, candidates: [small, big], rules: [] }"), env, "routes[0].rules", "only a rules route");
    await fails(routed("{ name: auto, policy: learned, candidates: [small, big], learned: { file: no-such.json } }"), env, "routes[0].learned.file", "not found");
    await fails(routed("{ name: auto, policy: cascade, candidates: [small, big], cascade: { threshold: 2 } }"), env, "routes[0].cascade.threshold");
    const ok = await loadConfig(await write(routed("{ name: auto, policy: cascade, candidates: [small, big], cascade: { threshold: 0.4 } }")), env);
    assert.equal(ok.config.routes?.[0]?.cascade?.threshold, 0.4);
  });
});
