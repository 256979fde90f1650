import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Opened, Route } from "../gateway/gateway.js";
import type { LogprobEntry, ProviderEvent, ProviderRequest, Usage } from "../providers/provider.js";
import { emptyUsage } from "../providers/usage.js";
import { formatProblem, regexCheck } from "./answer-validators.js";
import { judge, runCascade, type CascadeSpec } from "./cascade.js";
import { quantileProbability } from "./confidence.js";

const signal = new AbortController().signal;
const req = (extra: Partial<Omit<ProviderRequest, "model">> = {}): Omit<ProviderRequest, "model"> => ({
  id: "r",
  input: { kind: "chat", messages: [{ role: "user", content: "q" }] },
  sampling: {},
  n: 1,
  signal,
  ...extra,
});
const lp = (...ps: number[]): LogprobEntry[] => ps.map((p) => ({ text: "t", logprob: Math.log(p), top: [] }));
const spec: CascadeSpec = { small: "small", large: "big", quantile: 0.1, threshold: 0.3, checks: [] };
const choice = (text: string, logprobs: LogprobEntry[], extra: { calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[]; finish?: string } = {}) => ({
  text,
  calls: extra.calls ?? [],
  logprobs,
  finish: extra.finish ?? "stop",
});

describe("confidence", () => {
  it("is a low quantile of the token probabilities, by nearest rank", () => {
    const ten = lp(0.9, 0.8, 0.05, 0.99, 0.7, 0.6, 0.95, 0.5, 0.85, 0.75);
    assert.ok(Math.abs(quantileProbability(ten, 0)! - 0.05) < 1e-12);
    assert.ok(Math.abs(quantileProbability(ten, 0.1)! - 0.05) < 1e-12);
    assert.ok(Math.abs(quantileProbability(ten, 0.2)! - 0.5) < 1e-12);
    assert.ok(Math.abs(quantileProbability(ten, 0.5)! - 0.75) < 1e-12);
    assert.equal(quantileProbability([], 0.1), undefined);
  });
});

describe("answer validators", () => {
  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false };
  it("JSON output must parse, be an object, follow the schema", () => {
    assert.equal(formatProblem(req({ responseFormat: { type: "json_object" } }), { text: "{\"a\":1}", calls: [] }), undefined);
    assert.equal(formatProblem(req({ responseFormat: { type: "json_object" } }), { text: "[1]", calls: [] }), "output is not a JSON object");
    assert.equal(formatProblem(req({ responseFormat: { type: "json_object" } }), { text: "{\"a\":", calls: [] }), "output is not JSON");
    assert.equal(formatProblem(req({ responseFormat: { type: "json_schema", schema } }), { text: "{\"n\":3}", calls: [] }), undefined);
    assert.match(formatProblem(req({ responseFormat: { type: "json_schema", schema } }), { text: "{\"n\":\"3\"}", calls: [] })!, /does not follow its schema/);
  });
  it("tool calls must name an offered tool and carry arguments following its parameters", () => {
    const tools = [{ type: "function" as const, function: { name: "get", parameters: schema } }];
    const call = (name: string, args: string) => ({ id: "c", type: "function" as const, function: { name, arguments: args } });
    assert.equal(formatProblem(req({ tools }), { text: "", calls: [call("get", "{\"n\":1}")] }), undefined);
    assert.equal(formatProblem(req({ tools }), { text: "", calls: [call("put", "{}")] }), "called an unknown tool \"put\"");
    assert.equal(formatProblem(req({ tools }), { text: "", calls: [call("get", "{n:1}")] }), "tool call get: arguments are not JSON");
    assert.match(formatProblem(req({ tools }), { text: "", calls: [call("get", "{}")] })!, /arguments does not follow its schema/);
    assert.equal(formatProblem(req({ tools, toolChoice: "required" }), { text: "hi", calls: [] }), "no tool call where one was required");
    assert.equal(formatProblem(req({ tools }), { text: "hi", calls: [] }), undefined);
  });
});

describe("judge", () => {
  it("accepts when the checks pass and the confidence reaches the threshold", () => {
    assert.equal(judge(spec, req(), [choice("fine", lp(0.9, 0.8, 0.7))]).accept, true);
    const low = judge(spec, req(), [choice("fine", lp(0.9, 0.2, 0.7))]);
    assert.equal(low.accept, false);
    assert.equal(low.reason, "q0.1 p 0.200 < 0.3");
    assert.ok(Math.abs(low.confidence! - 0.2) < 1e-12);
  });
  it("rejects on a failed check before looking at confidence, and takes the least confident choice", () => {
    const checked = { ...spec, checks: [regexCheck(/#### \d+/)] };
    assert.equal(judge(checked, req(), [choice("#### 12", lp(0.9))]).accept, true);
    assert.equal(judge(checked, req(), [choice("twelve", lp(0.99))]).reason, "answer does not match /#### \\d+/");
    const two = judge(spec, req({ n: 2 }), [choice("a", lp(0.9)), choice("b", lp(0.25))]);
    assert.equal(two.accept, false);
    assert.ok(Math.abs(two.confidence! - 0.25) < 1e-12);
    assert.equal(judge(spec, req(), [choice("a", lp(0.9), { finish: "abort" })]).reason, "cut");
  });
  it("with threshold 0 accepts on the checks alone, and an empty answer has no confidence", () => {
    assert.equal(judge({ ...spec, threshold: 0 }, req(), [choice("", [])]).accept, true);
    assert.equal(judge(spec, req(), [choice("", [])]).reason, "no tokens to judge");
  });
});

/** A scripted model: its events, as the gateway's open returns them. */
function scripted(name: string, text: string, p: number, log: string[]): (r: Omit<ProviderRequest, "model">) => Promise<Opened> {
  return async (r) => {
    log.push(`${name} logprobs=${r.logprobs} stream=${r.stream}`);
    const usage: Usage = { ...emptyUsage("local", name), inputTokens: 3, outputTokens: 2 };
    const events: ProviderEvent[] = [
      { type: "text", choice: 0, text, logprobs: lp(p, p) },
      { type: "finish", choice: 0, reason: "stop" },
      { type: "usage", usage },
    ];
    let i = 1;
    return { route: { name } as Route, first: events[0]!, rest: { next: async () => (i < events.length ? { done: false, value: events[i++]! } : { done: true, value: undefined }) } };
  };
}
async function all(o: Opened): Promise<ProviderEvent[]> {
  const out = [o.first];
  for (let r = await o.rest.next(); !r.done; r = await o.rest.next()) out.push(r.value);
  return out;
}

describe("runCascade", () => {
  it("replays an accepted small answer whole, without the logprobs the client did not ask for", async () => {
    const log: string[] = [];
    const open = (m: string, r: Omit<ProviderRequest, "model">) => (m === "small" ? scripted("small", "sure", 0.9, log)(r) : scripted("big", "BIG", 0.9, log)(r));
    const { opened, decision } = await runCascade(spec, req({ stream: true }), open);
    assert.deepEqual(log, ["small logprobs=0 stream=false"]);
    assert.equal(decision.outcome, "accepted");
    assert.equal(opened.route.name, "small");
    const events = await all(opened);
    assert.deepEqual(events[0], { type: "text", choice: 0, text: "sure" });
    assert.equal(events.at(-1)!.type, "usage");
  });
  it("escalates a low-confidence answer, the large call's usage carrying the small one's", async () => {
    const log: string[] = [];
    const open = (m: string, r: Omit<ProviderRequest, "model">) => (m === "small" ? scripted("small", "unsure", 0.1, log)(r) : scripted("big", "BIG", 0.9, log)(r));
    const { opened, decision } = await runCascade(spec, req({ logprobs: 2 }), open);
    assert.deepEqual(log, ["small logprobs=2 stream=false", "big logprobs=2 stream=undefined"]);
    assert.equal(decision.outcome, "escalated");
    assert.equal(decision.model, "big");
    const events = await all(opened);
    assert.equal((events[0] as { text: string }).text, "BIG");
    const usage = (events.at(-1) as { usage: Usage }).usage;
    assert.equal(usage.model, "big");
    assert.deepEqual(usage.prior?.map((u) => u.model), ["small"]);
  });
  it("answers with the small model, saying so, when the large one fails", async () => {
    const log: string[] = [];
    const open = async (m: string, r: Omit<ProviderRequest, "model">) => {
      if (m === "big") throw new Error("down");
      return scripted("small", "unsure", 0.1, log)(r);
    };
    const { opened, decision } = await runCascade(spec, req(), open);
    assert.equal(decision.outcome, "accepted");
    assert.match(decision.reason, /escalation failed: down/);
    assert.equal(((await all(opened))[0] as { text: string }).text, "unsure");
  });
});
