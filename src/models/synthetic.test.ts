import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Point the cache at a temporary folder before anything reads it.
const home = mkdtempSync(join(tmpdir(), "inferd-synthetic-test-"));
process.env.INFERD_HOME = home;

const { isInferdError } = await import("../util/errors.js");
const { modelsDir, sharedModelsDir } = await import("../util/paths.js");
const { CHATML_TEMPLATE, SYNTHETIC_SHAPES, ensureSyntheticModel, parseSyntheticSpec, toF16 } = await import("./synthetic.js");
const { GGML_TYPE, GGUF_TYPE, readGgufMetadata, writeGguf } = await import("./gguf-writer.js");
const { getLlama, readGgufFileInfo, JinjaTemplateChatWrapper, LlamaLogLevel } = await import("node-llama-cpp");
type Llama = Awaited<ReturnType<typeof getLlama>>;
type Token = import("node-llama-cpp").Token;

const syntheticDir = () => join(modelsDir(), "synthetic");
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.includes(".tmp"));

after(() => rmSync(home, { recursive: true, force: true }));

describe("parseSyntheticSpec", () => {
  test("accepts the prefix or not, defaults to q8_0", () => {
    assert.deepEqual(
      { ...parseSyntheticSpec("synthetic:smollm2-135m"), params: undefined },
      { shape: "smollm2-135m", quant: "q8_0", params: undefined },
    );
    assert.equal(parseSyntheticSpec("qwen2.5-0.5b-q4_0").quant, "q4_0");
    assert.equal(parseSyntheticSpec("synthetic:llama3.2-1b-f16").shape, "llama3.2-1b");
    assert.equal(parseSyntheticSpec("llama3.2-1b-f16").params.nEmbd, 2048);
  });

  for (const bad of ["synthetic:gpt5", "smollm2-135m-q5_k", "smollm2-135m-", "qwen2.5-0.5b-Q4_0", "", "synthetic:"]) {
    test(`rejects ${JSON.stringify(bad)} with a one-line invalid_argument`, async () => {
      for (const run of [async () => parseSyntheticSpec(bad), () => ensureSyntheticModel(bad)]) {
        await assert.rejects(run, (e: unknown) => {
          assert.ok(isInferdError(e, "invalid_argument"));
          assert.match(e.message, /^unknown synthetic shape ".*"; known: smollm2-135m, spec-draft-135m, spec-target-135m, chain-135m, qwen2\.5-0\.5b, llama3\.2-1b \(quants f16, q8_0, q4_0\)$/);
          assert.ok(!e.message.includes("\n"));
          return true;
        });
      }
    });
  }
});

describe("gguf writer", () => {
  test("toF16", () => {
    assert.equal(toF16(1), 0x3c00);
    assert.equal(toF16(-2), 0xc000);
    assert.equal(toF16(65504), 0x7bff);
    assert.equal(toF16(2 ** -24), 1);
    assert.equal(toF16(0.1), 0x2e66);
  });

  test("round-trips metadata and tensor infos (read back by node-llama-cpp)", async () => {
    const dir = mkdtempSync(join(home, "w-"));
    const path = join(dir, "small.gguf");
    const meta = new Map([
      ["general.architecture", { type: GGUF_TYPE.STRING, value: "llama" }],
      ["a.u32", { type: GGUF_TYPE.UINT32, value: 7 }],
      ["a.i32", { type: GGUF_TYPE.INT32, value: -7 }],
      ["a.f32", { type: GGUF_TYPE.FLOAT32, value: 0.5 }],
      ["a.bool", { type: GGUF_TYPE.BOOL, value: true }],
      ["a.strs", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: ["x", "héllo", ""] }],
      ["a.ints", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value: [1, -2, 3] }],
      ["a.u8s", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.UINT8, value: [0, 255] }],
    ] as const);
    const tensors = [
      { name: "t0", dims: [3], type: GGML_TYPE.F32, fill: (b: Buffer) => void new Float32Array(b.buffer, b.byteOffset, b.length / 4).fill(2) },
      { name: "t1", dims: [64, 2], type: GGML_TYPE.Q8_0, fill: (b: Buffer) => void b.fill(1) },
    ];
    const progress: number[] = [];
    const size = await writeGguf(path, new Map(meta), tensors, { onProgress: (d) => progress.push(d) });
    assert.equal(statSync(path).size, size);
    assert.equal(progress.at(-1), size);
    const back = await readGgufMetadata(path);
    for (const [k, v] of meta) assert.deepEqual(back.get(k), v, k);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    assert.equal(info.version, 3);
    assert.deepEqual(
      info.fullTensorInfo!.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)]),
      [["t0", [3], 0, 0], ["t1", [64, 2], 8, 32]], // t0's 12 bytes padded to the 32-byte alignment
    );
    assert.equal(size % 32, 0);
    assert.deepEqual(leftovers(dir), []);
  });

  test("a failing write leaves neither the file nor its temp file", async () => {
    const dir = mkdtempSync(join(home, "w-"));
    const path = join(dir, "bad.gguf");
    let calls = 0;
    const tensors = [{
      name: "big", dims: [1024, 4096], type: GGML_TYPE.F16,
      fill: () => { if (++calls === 2) throw new Error("boom"); },
    }];
    await assert.rejects(writeGguf(path, new Map(), tensors, { chunkBytes: 1 << 20 }), /boom/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe("synthetic models", { concurrency: 1 }, () => {
  let llama: Llama;
  before(async () => {
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  });
  after(async () => {
    await llama?.dispose();
  });

  const expectedParams: Record<string, number> = {
    "smollm2-135m": 135e6,
    "qwen2.5-0.5b": 494e6,
    "llama3.2-1b": 1.236e9,
  };

  async function loadAndGenerate(modelPath: string, shape: string) {
    const p = SYNTHETIC_SHAPES[shape]!;
    const model = await llama.loadModel({ modelPath });
    try {
      const md = model.fileInfo.metadata as any;
      assert.equal(md.general.architecture, p.arch);
      assert.equal(md[p.arch].embedding_length, p.nEmbd);
      assert.equal(md[p.arch].context_length, p.nCtx);
      assert.equal(md.tokenizer.ggml.tokens.length, p.nVocab);
      assert.equal(md.tokenizer.chat_template, CHATML_TEMPLATE);
      const params = model.fileInsights.totalParameters;
      assert.ok(Math.abs(params / expectedParams[shape]! - 1) < 0.02, `${shape}: ${params} parameters`);
      assert.equal(model.trainContextSize, p.nCtx);
      // ChatML markers are single control tokens.
      for (const t of ["<|im_start|>", "<|im_end|>"]) assert.equal(model.tokenize(t, true).length, 1, t);

      const ctx = await model.createContext({ contextSize: 256, threads: 1 });
      try {
        const tokens = model.tokenize("Hello world, this is a test");
        assert.ok(tokens.length > 0);
        const out: number[] = [];
        for await (const r of ctx.getSequence().evaluateWithMetadata(tokens, { confidence: true }, { temperature: 0 })) {
          assert.ok(Number.isFinite(r.confidence) && r.confidence > 0 && r.confidence <= 1, `confidence ${r.confidence}`);
          assert.ok(r.token >= 0 && r.token < p.nVocab);
          out.push(r.token);
          if (out.length === 8) break;
        }
        assert.equal(out.length, 8);
      } finally {
        await ctx.dispose();
      }
    } finally {
      await model.dispose();
    }
  }

  const cases = ["smollm2-135m-q4_0", "smollm2-135m-q8_0", "smollm2-135m-f16", "qwen2.5-0.5b-q4_0", "llama3.2-1b-q4_0"];
  for (const spec of cases) {
    test(`${spec} loads and generates 8 tokens`, async () => {
      const { shape, quant } = parseSyntheticSpec(spec);
      let last = 0;
      const path = await ensureSyntheticModel(`synthetic:${spec}`, { onProgress: (d, t) => { assert.ok(d >= last && d <= t); last = d; } });
      assert.equal(last, statSync(path).size);
      const tag = sharedModelsDir() ? SYNTHETIC_SHAPES[shape]!.vocabFile.replace(/^ggml-vocab-|\.gguf$/g, "") : "bytes";
      assert.equal(path, join(syntheticDir(), `synthetic-${shape}-${quant}-${tag}.gguf`));
      const meta = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
      const md = meta.metadata as any;
      assert.equal(md.general.name, `synthetic ${shape} ${quant}`);
      assert.equal(md.general.file_type, { f16: 1, q8_0: 7, q4_0: 2 }[quant]);
      const types = new Map(meta.fullTensorInfo!.map((t) => [t.name, t.ggmlType]));
      const wt = { f16: 1, q8_0: 8, q4_0: 2 }[quant];
      assert.equal(types.get("token_embd.weight"), wt);
      assert.equal(types.get("blk.0.ffn_down.weight"), wt);
      assert.equal(types.get("blk.0.attn_norm.weight"), 0);
      assert.equal(types.has("output.weight"), false);
      assert.equal(types.has("blk.0.attn_q.bias"), shape === "qwen2.5-0.5b");
      await loadAndGenerate(path, shape);
      // A cache hit returns the same file without rewriting it.
      const mtime = statSync(path).mtimeMs;
      let wrote = false;
      assert.equal(await ensureSyntheticModel(spec, { onProgress: () => { wrote = true; } }), path);
      assert.equal(wrote, false);
      assert.equal(statSync(path).mtimeMs, mtime);
      rmSync(path); // keep the temp folder small
    });
  }

  test("chain-135m: an untied head, and greedy decoding follows the chain t -> t+1", async () => {
    const path = await ensureSyntheticModel("synthetic:chain-135m-q4_0");
    const meta = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
    assert.ok(meta.fullTensorInfo!.some((t) => t.name === "output.weight"));
    const model = await llama.loadModel({ modelPath: path });
    try {
      const ctx = await model.createContext({ contextSize: 256, threads: 1 });
      const out: number[] = [];
      for await (const r of ctx.getSequence().evaluateWithMetadata([1000, 20000, 300] as unknown as Token[], {}, { temperature: 0 })) {
        out.push(r.token);
        if (out.length === 16) break;
      }
      assert.deepEqual(out, Array.from({ length: 16 }, (_, i) => 301 + i));
      await ctx.dispose();
    } finally {
      await model.dispose();
    }
    rmSync(path);
  });

  test("built-in byte vocabulary when the shared folder is absent", async () => {
    const saved = process.env.INFERD_SHARED_MODELS;
    process.env.INFERD_SHARED_MODELS = join(home, "no-such-folder");
    try {
      const path = await ensureSyntheticModel("smollm2-135m-q4_0");
      assert.equal(path, join(syntheticDir(), "synthetic-smollm2-135m-q4_0-bytes.gguf"));
      const md = (await readGgufFileInfo(path, { logWarnings: false })).metadata as any;
      assert.equal(md.tokenizer.ggml.model, "llama");
      assert.equal(md.tokenizer.ggml.tokens[3], "<0x00>");
      assert.equal(md.tokenizer.ggml.token_type[3], 6);
      assert.equal(md.tokenizer.ggml.bos_token_id, 1);
      await loadAndGenerate(path, "smollm2-135m");
      rmSync(path);
    } finally {
      if (saved === undefined) delete process.env.INFERD_SHARED_MODELS;
      else process.env.INFERD_SHARED_MODELS = saved;
    }
  });

  test("the chat template renders ChatML", () => {
    const wrapper = new JinjaTemplateChatWrapper({ template: CHATML_TEMPLATE });
    const { contextText } = wrapper.generateContextState({
      chatHistory: [
        { type: "system", text: "Be brief." },
        { type: "user", text: "Hi" },
        { type: "model", response: [] },
      ],
    });
    assert.equal(
      contextText.toString(),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  test("an error while writing leaves no temp file in the cache", async () => {
    // A directory where the model file should go makes the final rename fail.
    const { shape, quant } = parseSyntheticSpec("smollm2-135m-q4_0");
    const tag = sharedModelsDir() ? "starcoder" : "bytes";
    const target = join(syntheticDir(), `synthetic-${shape}-${quant}-${tag}.gguf`);
    mkdirSync(target, { recursive: true });
    try {
      await assert.rejects(ensureSyntheticModel("smollm2-135m-q4_0"));
      assert.deepEqual(leftovers(syntheticDir()), []);
      assert.ok(statSync(target).isDirectory());
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });
});
