import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseToolCall, toolCallGrammar, ToolCallExtractor, type ToolDefinition } from "./tool-calls.js";

/** Feeds `text` in pieces of `size` characters and joins what comes out. */
function extract(text: string, size: number, forced = false) {
  const x = new ToolCallExtractor({ forced });
  let content = "";
  const names: string[] = [];
  for (let i = 0; i < text.length; i += size) {
    const r = x.push(text.slice(i, i + size));
    content += r.content;
    names.push(...r.calls.map((c) => c.function.name));
  }
  const r = x.flush();
  content += r.content;
  names.push(...r.calls.map((c) => c.function.name));
  return { content, names, calls: x.calls };
}

describe("ToolCallExtractor", () => {
  const call = (name: string) => `<tool_call>\n{"name": "${name}", "arguments": {"city": "Oslo"}}\n</tool_call>`;

  it("finds calls whatever the chunking, and markup never reaches content", () => {
    for (const size of [1, 2, 5, 1000]) {
      const r = extract(`Let me check.${call("a")}\n${call("b")}`, size);
      assert.equal(r.content, "Let me check.");
      assert.deepEqual(r.names, ["a", "b"]);
      assert.equal(r.calls[0]!.function.arguments, '{"city":"Oslo"}');
    }
  });

  it("text that only looks like the start of a call is given back", () => {
    assert.equal(extract("a < b and <tool", 3).content, "a < b and <tool");
    assert.deepEqual(extract("plain text", 1), { content: "plain text", names: [], calls: [] });
  });

  it("a block that is not a call is dropped, never markup in content; an unclosed one parses at the end", () => {
    assert.equal(extract("Hi.<tool_call>not json</tool_call>", 4).content, "Hi.");
    // cut by max_tokens inside a call: what was parsed, no markup
    for (const size of [1, 3, 1000]) {
      const cut = extract(`${call("a")}\n<tool_call>\n{"name": "b", "argu`, size);
      assert.deepEqual(cut.names, ["a"]);
      assert.equal(cut.content, "");
      assert.equal(extract('Sure. <tool_call>\n{"name": "b", "argu', size).content, "Sure.");
      // a forced call cut inside its opening tag: that is markup too
      assert.equal(extract("<tool_c", size, true).content, "");
      assert.equal(extract("<tool_c", size).content, "<tool_c", "unforced, it may be text");
    }
    const r = extract('<tool_call>{"name": "f", "arguments": "{}"}', 4);
    assert.deepEqual(r.names, ["f"]);
    assert.equal(r.calls[0]!.function.arguments, "{}");
  });

  it("parseToolCall rejects what is not a call", () => {
    assert.equal(parseToolCall('{"arguments": {}}'), undefined);
    assert.equal(parseToolCall("[1]"), undefined);
    assert.equal(parseToolCall('{"name": "f"}')!.function.arguments, "{}");
  });
});

describe("toolCallGrammar", () => {
  const tools: ToolDefinition[] = [
    { type: "function", function: { name: "a", parameters: { type: "object", properties: { x: { type: "integer" } } } } },
    { type: "function", function: { name: "b" } },
  ];

  it("none and auto leave sampling free", () => {
    assert.equal(toolCallGrammar(tools, "auto"), undefined);
    assert.equal(toolCallGrammar(tools, "none"), undefined);
  });

  it("required allows any tool; a named choice only that one", () => {
    const any = toolCallGrammar(tools, "required");
    assert.ok(any?.type === "json_schema");
    assert.equal((any.schema.oneOf as unknown[]).length, 2);
    assert.equal(any.prefix, "<tool_call>\n");
    const one = toolCallGrammar(tools, { type: "function", function: { name: "b" } });
    assert.ok(one?.type === "json_schema");
    assert.deepEqual((one.schema.properties as Record<string, unknown>).name, { const: "b" });
  });
});
