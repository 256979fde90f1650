import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointUrl } from "./bench-serve.js";
import { parseBenchServe } from "../cli/bench.js";
import { isInferdError } from "../util/errors.js";

// The flags of `inferd bench serve` (src/cli/bench.ts), tested here beside the code they drive.
describe("bench serve flags", () => {
  const base = ["--url", "http://h:1", "--model", "m", "--num-prompts", "10"];
  test("defaults", () => {
    const p = parseBenchServe(base);
    assert.ok(p !== "help");
    const o = p.options;
    assert.deepEqual(
      [o.endpoint, o.dataset, o.randomInputLen, o.randomOutputLen, o.prefixLen, o.numPrefixes, o.suffixLen, o.seed, o.requestRate, o.maxConcurrency, o.goodput, o.initialTest],
      ["/v1/completions", "random", 256, 128, 1024, 10, 256, 0, Infinity, Infinity, undefined, true],
    );
    assert.equal(parseBenchServe([...base, "--request-rate", "2.5", "--max-concurrency", "3"]) !== "help" && 2.5, 2.5);
    assert.equal(parseBenchServe(["--help"]), "help");
  });

  test("bad values are one-line invalid_argument errors naming the flag", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--model", "m", "--num-prompts", "1"], /--url is required/],
      [["--url", "http://h", "--num-prompts", "1"], /--model is required/],
      [["--url", "http://h", "--model", "m"], /--num-prompts is required/],
      [[...base, "--num-prompts", "0"], /--num-prompts/],
      [[...base, "--request-rate", "0"], /--request-rate/],
      [[...base, "--request-rate", "fast"], /--request-rate/],
      [[...base, "--max-concurrency", "-2"], /--max-concurrency: "-2"/],
      [[...base, "--endpoint", "/v1/embeddings"], /--endpoint/],
      [[...base, "--dataset", "sharegpt"], /--dataset/],
      [[...base, "--goodput", "ttft=5"], /--goodput/],
      [[...base, "--seed", "1.5"], /--seed/],
      [[...base, "--bogus"], /bogus/],
      [[...base, "--url", "ftp://h"], /--url/],
    ];
    for (const [argv, re] of cases) {
      assert.throws(() => parseBenchServe(argv), (e) => isInferdError(e, "invalid_argument") && re.test(e.message) && !e.message.includes("\n"), argv.join(" "));
    }
    assert.throws(() => endpointUrl("ftp://h", "/v1/completions"), /--url/);
    assert.throws(() => endpointUrl("not a url", "/v1/completions"), /--url/);
    assert.equal(endpointUrl("http://h:8/v1/", "/v1/chat/completions").href, "http://h:8/v1/chat/completions");
  });
});
