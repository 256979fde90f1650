import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sharedModelsDir } from "../src/util/paths.js";

const dir = sharedModelsDir();

/** Path of a file in ../shared/models, or undefined when that folder is absent. */
export function sharedModel(file: string): string | undefined {
  return dir === undefined ? undefined : join(dir, file);
}

/** `{skip: reason}` for tests that need ../shared/models, `{}` when it is present. */
export const needsShared: { skip?: string } =
  dir === undefined ? { skip: "../shared/models is absent (fresh clone elsewhere): real-model tests need stories260K.gguf" } : {};

export const STORIES = sharedModel("stories260K.gguf");

/** The greedy 200-token reference text of stories260K from ../shared/models/README.md. */
export function storiesReference(): string {
  const readme = readFileSync(join(dir!, "README.md"), "utf8");
  const m = /## Reference output of stories260K[\s\S]*?```\n([\s\S]*?)\n```/.exec(readme);
  if (!m) throw new Error("reference text not found in ../shared/models/README.md");
  return m[1]!;
}
