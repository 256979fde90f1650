import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoTokenize, TurnMemo } from "./turn-memo.js";

/** A toy tokenizer: one token per character code, "<e>" one special token (9), BOS 1. */
function toy(text: string, addBos: boolean): number[] {
  const out: number[] = addBos ? [1] : [];
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith("<e>", i)) {
      out.push(9);
      i += 2;
    } else out.push(text.charCodeAt(i));
  }
  return out;
}

describe("TurnMemo", () => {
  it("finds the longest remembered prefix, none when nothing starts the text", () => {
    const m = new TurnMemo();
    m.remember("ab", [1, 2]);
    m.remember("abcd", [1, 2, 3]);
    m.remember("x", [7]);
    assert.deepEqual(m.longestPrefix("abcdef"), { text: "abcd", tokens: [1, 2, 3] });
    assert.deepEqual(m.longestPrefix("abc"), { text: "ab", tokens: [1, 2] });
    assert.equal(m.longestPrefix("zzz"), undefined);
  });

  it("forgets the least recently used beyond its entry and character bounds", () => {
    const m = new TurnMemo(2, 10);
    m.remember("a", [1]);
    m.remember("b", [2]);
    m.longestPrefix("a!"); // a is now the most recent
    m.remember("c", [3]);
    assert.equal(m.size, 2);
    assert.equal(m.longestPrefix("b"), undefined);
    assert.ok(m.longestPrefix("a") && m.longestPrefix("c"));
    m.remember("0123456789", [0]); // alone fills the character bound
    assert.equal(m.size, 1);
    m.remember("0123456789-too-long", [0]);
    assert.equal(m.longestPrefix("0123456789-too-long")?.text, "0123456789", "texts over the bound are not kept");
  });

  it("memoTokenize: the remembered tokens, then the rest as the whole text splits it", () => {
    const m = new TurnMemo();
    // the model generated "hi" as one token (500), which plain tokenization never gives
    m.remember("Q:hi", [1, 81, 58, 500]);
    const r = memoTokenize(m, "Q:hi<e>Q:", toy);
    assert.deepEqual(r, { tokens: [1, 81, 58, 500, 9, 81, 58], remembered: 4 });
    assert.deepEqual(memoTokenize(m, "R:", toy), { tokens: [1, 82, 58], remembered: 0 });
    assert.deepEqual(memoTokenize(undefined, "Q:hi", toy).tokens, toy("Q:hi", true));
  });

  it("memoTokenize: plain tokenization when the rest splits differently alone than inside the whole", () => {
    const m = new TurnMemo();
    m.remember("Q:hi<", [1, 81, 58, 500, 60]);
    // "<e>" straddles the boundary: alone the rest "e>" is two characters, inside the whole one token
    assert.deepEqual(memoTokenize(m, "Q:hi<e>", toy), { tokens: toy("Q:hi<e>", true), remembered: 0 });
  });
});
