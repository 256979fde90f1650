import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileTypeName, formatBytes, listCachedModels } from "./cache.js";
import { sharedModelsDir } from "../util/paths.js";

describe("listCachedModels", () => {
  const savedHome = process.env.INFERD_HOME;
  let home: string;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "inferd-cache-"));
    process.env.INFERD_HOME = home;
  });

  after(async () => {
    await rm(home, { recursive: true, force: true });
    if (savedHome === undefined) delete process.env.INFERD_HOME;
    else process.env.INFERD_HOME = savedHome;
  });

  test("an empty or missing cache lists nothing", async () => {
    assert.deepEqual(await listCachedModels(), []);
  });

  const shared = sharedModelsDir();
  test(
    "lists hf and synthetic models with size, quantization and architecture",
    { skip: shared === undefined ? "shared test models folder (../shared/models) not found" : false },
    async () => {
      const models = join(home, "models");
      const hfPath = join(models, "hf", "owner", "repo", "stories260K.gguf");
      await mkdir(join(models, "hf", "owner", "repo"), { recursive: true });
      await copyFile(join(shared!, "stories260K.gguf"), hfPath);
      // Garbage with a .gguf name: listed, without metadata.
      const junkPath = join(models, "synthetic", "junk.gguf");
      await mkdir(join(models, "synthetic"), { recursive: true });
      await writeFile(junkPath, "this is not a gguf file\n");
      // Ignored: partial downloads and temp files.
      await writeFile(`${hfPath}.partial`, "GGUF...");
      await writeFile(join(models, "hf", "owner", "repo", ".tmp-123.gguf"), "GGUF...");
      await writeFile(join(models, "hf", "owner", "repo", "x.gguf.tmp42"), "GGUF...");
      await writeFile(join(models, "hf", "owner", "repo", "README.md"), "hi");

      const list = await listCachedModels();
      assert.deepEqual(list, [
        {
          name: "hf:owner/repo/stories260K.gguf",
          path: hfPath,
          sizeBytes: (await stat(hfPath)).size,
          quantization: "F32",
          architecture: "llama",
        },
        {
          name: "synthetic:junk",
          path: junkPath,
          sizeBytes: 24,
          quantization: undefined,
          architecture: undefined,
        },
      ]);
    },
  );
});

test("fileTypeName maps general.file_type to quantization names", async () => {
  const { GgufFileType } = await import("node-llama-cpp");
  const names = GgufFileType as unknown as Record<number, string>;
  const expected: Record<number, string> = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
  };
  for (const [n, name] of Object.entries(expected)) assert.equal(fileTypeName(Number(n), names), name);
  assert.equal(fileTypeName(undefined, names), undefined);
  assert.equal(fileTypeName(9999, names), undefined);
});

test("formatBytes", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 kB");
  assert.equal(formatBytes(1_130_000), "1.1 MB");
  assert.equal(formatBytes(123_456_789), "123 MB");
  assert.equal(formatBytes(999_999), "1.0 MB");
  assert.equal(formatBytes(4_100_000_000), "4.1 GB");
});
