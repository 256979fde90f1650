import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IncrementalDetokenizer } from "./detokenizer.js";

// A byte-level toy vocabulary: token = one byte. Decoding invalid UTF-8 yields U+FFFD, like llama.cpp.
const decode = (tokens: readonly number[]) => Buffer.from(tokens).toString("utf8");

describe("IncrementalDetokenizer", () => {
  it("never splits a multi-byte character across deltas", () => {
    const d = new IncrementalDetokenizer(decode);
    const bytes = [...Buffer.from("a€b🙂")];
    const deltas = bytes.map((b) => d.push(b));
    assert.equal(deltas.join("") + d.flush(), "a€b🙂");
    assert.ok(deltas.every((t) => !t.includes("\uFFFD")));
    assert.deepEqual(deltas.filter((t) => t !== ""), ["a", "€", "b", "🙂"]);
  });
  it("continues from context tokens without repeating them", () => {
    const d = new IncrementalDetokenizer(decode, [...Buffer.from("Once upon")]);
    assert.equal(d.push(" ".charCodeAt(0)), " ");
    assert.equal(d.push("a".charCodeAt(0)), "a");
  });
  it("flushes an incomplete character at the end", () => {
    const d = new IncrementalDetokenizer(decode);
    assert.equal(d.push(0xe2), "");
    assert.equal(d.flush(), "\uFFFD");
  });
});
