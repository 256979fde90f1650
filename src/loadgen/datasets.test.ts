import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { prefixRepetitionDataset, randomDataset, WORDS } from "./datasets.js";
import { mulberry32, shuffle, subRng } from "./rng.js";
import { isInferdError } from "../util/errors.js";

const words = (s: string) => s.split(" ");

describe("rng", () => {
  test("mulberry32 is deterministic per seed, in [0, 1), and roughly uniform", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    assert.deepEqual(xs.slice(0, 50), Array.from({ length: 50 }, () => b()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`); // sd of the mean is 0.0029
    assert.notDeepEqual(Array.from({ length: 5 }, mulberry32(43)), xs.slice(0, 5));
  });

  test("shuffle is a permutation and sub-streams differ", () => {
    const s = shuffle(mulberry32(1), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual([...s].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    assert.notDeepEqual(s, Array.from({ length: 100 }, (_, i) => i));
    assert.notEqual(subRng(7, 0)(), subRng(7, 1)());
  });
});

describe("datasets", () => {
  test("the word list holds distinct single lowercase words", () => {
    assert.ok(WORDS.length >= 100);
    assert.equal(new Set(WORDS).size, WORDS.length);
    for (const w of WORDS) assert.match(w, /^[a-z]+$/);
  });

  test("random: exact word count, fixed output length, deterministic in the seed", () => {
    const d = randomDataset(mulberry32(3), { numPrompts: 20, inputLen: 37, outputLen: 11 });
    assert.equal(d.length, 20);
    for (const r of d) {
      assert.equal(words(r.prompt).length, 37);
      assert.ok(words(r.prompt).every((w) => WORDS.includes(w)));
      assert.equal(r.promptLen, 37);
      assert.equal(r.outputLen, 11);
    }
    assert.deepEqual(randomDataset(mulberry32(3), { numPrompts: 20, inputLen: 37, outputLen: 11 }), d);
    assert.notDeepEqual(randomDataset(mulberry32(4), { numPrompts: 20, inputLen: 37, outputLen: 11 }), d);
    assert.equal(new Set(d.map((r) => r.prompt)).size, 20);
  });

  test("prefix-repetition: num-prefixes distinct prefixes, each used num-prompts/num-prefixes times, unique suffixes, shuffled", () => {
    const o = { numPrompts: 30, numPrefixes: 5, prefixLen: 20, suffixLen: 10, outputLen: 7 };
    const d = prefixRepetitionDataset(mulberry32(9), o);
    assert.equal(d.length, 30);
    const uses = new Map<string, number>();
    const suffixes = new Set<string>();
    const prefixOfIndex = new Map<number, string>();
    for (const r of d) {
      const w = words(r.prompt);
      assert.equal(w.length, 30);
      assert.equal(r.promptLen, 30);
      assert.equal(r.outputLen, 7);
      const prefix = w.slice(0, 20).join(" ");
      uses.set(prefix, (uses.get(prefix) ?? 0) + 1);
      suffixes.add(w.slice(20).join(" "));
      // prefixIndex names the prefix consistently
      assert.equal(prefixOfIndex.get(r.prefixIndex!) ?? prefix, prefix);
      prefixOfIndex.set(r.prefixIndex!, prefix);
    }
    assert.equal(uses.size, 5);
    assert.deepEqual([...uses.values()], [6, 6, 6, 6, 6]);
    assert.equal(suffixes.size, 30);
    // shuffled: not the round-robin order it was built in
    assert.notDeepEqual(d.map((r) => r.prefixIndex), Array.from({ length: 30 }, (_, i) => i % 5));
    assert.deepEqual(prefixRepetitionDataset(mulberry32(9), o), d);
  });

  test("prefix-repetition: a remainder is spread one each over the first prefixes", () => {
    const d = prefixRepetitionDataset(mulberry32(1), { numPrompts: 7, numPrefixes: 3, prefixLen: 4, suffixLen: 4, outputLen: 1 });
    const counts = [0, 0, 0];
    for (const r of d) counts[r.prefixIndex!]!++;
    assert.deepEqual(counts, [3, 2, 2]);
  });

  test("prefix-repetition: impossible settings are invalid_argument errors", () => {
    assert.throws(
      () => prefixRepetitionDataset(mulberry32(1), { numPrompts: 2, numPrefixes: 3, prefixLen: 4, suffixLen: 4, outputLen: 1 }),
      (e) => isInferdError(e, "invalid_argument") && /num-prefixes/.test(e.message),
    );
    // one-word suffixes cannot be unique across more prompts than there are words
    assert.throws(
      () => prefixRepetitionDataset(mulberry32(1), { numPrompts: WORDS.length + 1, numPrefixes: 1, prefixLen: 4, suffixLen: 1, outputLen: 1 }),
      (e) => isInferdError(e, "invalid_argument") && /distinct suffixes/.test(e.message),
    );
    // but exactly as many as there are words works, each word once
    const d = prefixRepetitionDataset(mulberry32(1), { numPrompts: WORDS.length, numPrefixes: 1, prefixLen: 2, suffixLen: 1, outputLen: 1 });
    assert.equal(new Set(d.map((r) => words(r.prompt)[2])).size, WORDS.length);
  });
});
