import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SamplerConfig } from "../backend/backend.js";
import { MAX_PASSED_OVER, pickAdmission } from "./admission.js";
import type { Reuse } from "./prefix-reuse.js";
import { Sequence } from "./sequence.js";

const seq = (id: number, priority = 0) => new Sequence(id, [1, 2, 3], { temperature: 0 } as SamplerConfig, 8, priority, true, id);
const none: Reuse = { kind: "none", length: 0 };
const copy = (length: number): Reuse => ({ kind: "copy", fromSlot: 0, length });

describe("pickAdmission", () => {
  it("takes the oldest unless a later one of the same priority reuses more of KV", () => {
    const [a, b, c] = [seq(1), seq(2), seq(3)];
    assert.equal(pickAdmission([a, b, c], new Set(), () => none)?.seq, a);
    const r = pickAdmission([a, b, c], new Set(), (s) => (s === c ? copy(64) : none));
    assert.equal(r?.seq, c);
    assert.equal(a.passedOver, 1, "the ones skipped count it");
    assert.equal(b.passedOver, 1);
  });

  it("never passes over a higher priority, nor the oldest once it was passed over enough", () => {
    const [hi, lo] = [seq(1, 1), seq(2, 0)];
    assert.equal(pickAdmission([hi, lo], new Set(), (s) => (s === lo ? copy(64) : none))?.seq, hi);
    const [old, young] = [seq(3), seq(4)];
    old.passedOver = MAX_PASSED_OVER;
    assert.equal(pickAdmission([old, young], new Set(), (s) => (s === young ? copy(64) : none))?.seq, old);
  });

  it("a request whose prefix is being computed waits (deferred), the next one starts", () => {
    const [a, b] = [seq(1), seq(2)];
    const deferred = new Set<Sequence>();
    const r = pickAdmission([a, b], deferred, (s) => (s === a ? { kind: "defer", source: b, length: 32 } : none));
    assert.equal(r?.seq, b);
    assert.ok(deferred.has(a));
    assert.equal(a.passedOver, 0, "waiting for a prefix is not being passed over");
  });
});
