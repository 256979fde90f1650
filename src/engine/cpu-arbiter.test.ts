import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { isInferdError } from "../util/errors.js";
import { CpuArbiter } from "./cpu-arbiter.js";

describe("CpuArbiter", () => {
  it("grants a free lock at once and queues the others in arrival order", async () => {
    const cpu = new CpuArbiter();
    const order: string[] = [];
    await cpu.acquire();
    const waiters = ["a", "b", "c"].map((name) => cpu.acquire().then(() => order.push(name)));
    await tick();
    assert.deepEqual(order, [], "nobody gets a held lock");
    assert.equal(cpu.waiting, 3);
    for (let i = 0; i < 3; i++) {
      cpu.release();
      await tick();
      assert.equal(order.length, i + 1, "one release, one grant");
    }
    await Promise.all(waiters);
    assert.deepEqual(order, ["a", "b", "c"]);
    assert.ok(cpu.busy);
    cpu.release();
    assert.ok(!cpu.busy);
    assert.equal(cpu.grants, 4);
  });

  it("two busy loops alternate: a releaser that asks again queues behind the other", async () => {
    const cpu = new CpuArbiter();
    const order: string[] = [];
    const loop = async (name: string) => {
      for (let i = 0; i < 5; i++) await cpu.run(async () => {
        order.push(name);
        await tick(); // the compute's own await: the other loop is queued meanwhile
      });
    };
    await Promise.all([loop("A"), loop("B")]);
    assert.equal(order.join(""), "ABABABABAB");
  });

  it("run releases when its function throws; releasing a free lock is an error", async () => {
    const cpu = new CpuArbiter();
    await assert.rejects(cpu.run(async () => { throw new Error("boom"); }), /boom/);
    assert.ok(!cpu.busy);
    assert.throws(() => cpu.release(), (e) => isInferdError(e, "internal"));
  });
});
