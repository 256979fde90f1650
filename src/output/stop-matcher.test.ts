import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StopMatcher } from "./stop-matcher.js";

function feed(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  let out = "";
  for (const p of pieces) {
    const r = m.push(p);
    out += r.text;
    if (r.kind === "stop") return { out, stopped: r.stop };
  }
  return { out: out + m.flush(), stopped: undefined };
}

describe("StopMatcher", () => {
  it("finds a stop string spanning pieces and never emits it", () => {
    assert.deepEqual(feed(["END"], ["abc E", "N", "D more"]), { out: "abc ", stopped: "END" });
  });
  it("holds back a possible start, then releases it when it is not a stop", () => {
    const m = new StopMatcher(["</s>"]);
    assert.deepEqual(m.push("x </"), { kind: "text", text: "x " });
    assert.deepEqual(m.push("b>"), { kind: "text", text: "</b>" });
  });
  it("picks the earliest of several stop strings", () => {
    assert.deepEqual(feed(["world", "o w"], ["hello world"]), { out: "hell", stopped: "o w" });
  });
  it("releases held text at the end", () => {
    assert.deepEqual(feed(["STOP"], ["the ST"]), { out: "the ST", stopped: undefined });
  });
  it("passes text straight through without stop strings", () => {
    assert.deepEqual(new StopMatcher([]).push("abc"), { kind: "text", text: "abc" });
  });
});
