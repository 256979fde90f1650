import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readMathAnswer, runCheck, unusedNumbers } from "./answer-checks.js";
import { evaluate, parseNumber } from "./arithmetic.js";

describe("the safe arithmetic evaluator", () => {
  it("computes what models write in their working", () => {
    assert.equal(evaluate("16-3-4"), 9);
    assert.equal(evaluate("9*2"), 18);
    assert.equal(evaluate("(80,000 + 50,000) * 1.5"), 195_000);
    assert.equal(evaluate("2^3^2"), 512);
    assert.equal(evaluate("-3 + 10 % 4"), -1);
    assert.equal(evaluate("$20 x 3"), 60);
    assert.equal(evaluate(".5*4"), 2);
  });
  it("refuses anything that is not plain arithmetic, never running it", () => {
    for (const junk of ["process.exit(1)", "2+", "(1+2", "1 2", "", "a*b", "1/0", "9".repeat(400), "constructor"]) assert.equal(evaluate(junk), undefined, junk);
    assert.equal(parseNumber("$1,250.50"), 1250.5);
    assert.equal(parseNumber("12 eggs"), undefined);
  });
});

describe("the gsm8k check", () => {
  const good = "She has 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18";
  it("accepts a final answer that is the last result of sums that hold", () => {
    assert.equal(runCheck("gsm8k", good), true);
    assert.deepEqual({ ...readMathAnswer(good), numbers: undefined }, { final: 18, annotations: 2, wrongAnnotations: 0, finalIsLastResult: true, numbers: undefined });
  });
  it("rejects a wrong sum, a final answer that is not the last result, or none", () => {
    assert.equal(runCheck("gsm8k", good.replace("<<9*2=18>>", "<<9*2=19>>")), "1 of its 2 calculations do not hold");
    assert.equal(runCheck("gsm8k", good.replace("#### 18", "#### 20")), "the final answer is not its last result");
    assert.equal(runCheck("gsm8k", "The value is 80,000 + 50,000 = $<<80000+50000=130000>>130,00"), "no final answer (#### N)");
    assert.equal(runCheck("final-number", "so #### 42"), true);
  });
  it("counts the question's numbers the answer never used", () => {
    const q = "Janet's ducks lay 16 eggs. She eats 3 and bakes with 4. She sells each for $2.";
    assert.equal(unusedNumbers(q, readMathAnswer(good)), 0);
    assert.equal(unusedNumbers(q, readMathAnswer("16 - 3 = 13 #### 13")), 2);
  });
});
