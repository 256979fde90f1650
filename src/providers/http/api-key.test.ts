import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isInferdError } from "../../util/errors.js";
import { resolveApiKey } from "./api-key.js";

describe("resolveApiKey", () => {
  it("returns the variable's value, trimmed", () => {
    assert.equal(resolveApiKey("lab", "LAB_KEY", { LAB_KEY: "sk-abc123\n" }), "sk-abc123");
  });

  it("fails with one line naming the variable when it is unset or empty", () => {
    for (const env of [{}, { LAB_KEY: "" }, { LAB_KEY: "  \n" }]) {
      assert.throws(
        () => resolveApiKey("lab", "LAB_KEY", env),
        (e) => isInferdError(e, "invalid_argument") && e.message === "lab: environment variable LAB_KEY (its api_key_env) is unset or empty" && !e.message.includes("\n"),
      );
    }
  });

  it("refuses a key with spaces or control characters without showing it", () => {
    const key = "sk-half key-XYZ";
    assert.throws(
      () => resolveApiKey("lab", "LAB_KEY", { LAB_KEY: key }),
      (e) => isInferdError(e, "invalid_argument") && /LAB_KEY holds a key with spaces/.test(e.message) && !e.message.includes("XYZ"),
    );
  });

  it("does not echo an api_key_env that is no variable name (a key pasted there by mistake)", () => {
    assert.throws(
      () => resolveApiKey("lab", "sk-proj-SECRET123", {}),
      (e) => isInferdError(e, "invalid_argument") && /api_key_env must name an environment variable/.test(e.message) && !e.message.includes("SECRET123"),
    );
  });
});
