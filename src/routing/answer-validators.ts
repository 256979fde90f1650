/**
 * What a cascade checks in the small model's answer before it is accepted, besides its
 * confidence: output that must be JSON parses (and follows the request's schema), tool calls
 * parse and name a tool the request offered (and follow its parameters), and the route's own
 * check on the text (a regex, an answer-format check). A failure names what failed: that is the
 * decision's reason.
 */
import { Ajv, type ValidateFunction } from "ajv";
import type { ProviderRequest, ToolCall } from "../providers/provider.js";

/** One choice of the small model's answer, as collected from its events. */
export interface AnswerChoice {
  text: string;
  calls: ToolCall[];
}

/** A route's own check on an answer's text: true to accept, or why not. */
export type TextCheck = (text: string) => true | string;

const ajv = new Ajv({ allErrors: false, strict: false });
/** Compiled schemas by their JSON text, bounded (a client cannot grow it without limit). */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 256;

function validatorOf(schema: Record<string, unknown>): ValidateFunction | string {
  const text = JSON.stringify(schema);
  let v = compiled.get(text);
  if (v === undefined) {
    try {
      v = ajv.compile(schema);
    } catch (e) {
      return `schema does not compile: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(text, v);
  }
  return v;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function schemaProblem(schema: Record<string, unknown> | undefined, value: unknown, what: string): string | undefined {
  if (schema === undefined) return undefined;
  const v = validatorOf(schema);
  if (typeof v === "string") return v;
  return v(value) ? undefined : `${what} does not follow its schema (${ajv.errorsText(v.errors)})`;
}

/** Why choice `c` fails the request's own constraints (JSON, schema, tools), or undefined when it passes. */
export function formatProblem(req: Omit<ProviderRequest, "model">, c: AnswerChoice): string | undefined {
  const f = req.responseFormat;
  if (f !== undefined && f.type !== "text" && c.calls.length === 0) {
    const parsed = parseJson(c.text);
    if (!parsed.ok) return "output is not JSON";
    if (f.type === "json_object" && (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value))) return "output is not a JSON object";
    if (f.type === "json_schema") {
      const p = schemaProblem(f.schema, parsed.value, "output");
      if (p !== undefined) return p;
    }
  }
  const tools = req.tools ?? [];
  const forced = req.toolChoice === "required" || (typeof req.toolChoice === "object" && req.toolChoice !== null);
  if (forced && c.calls.length === 0) return "no tool call where one was required";
  for (const call of c.calls) {
    const tool = tools.find((t) => t.function.name === call.function.name);
    if (tool === undefined) return `called an unknown tool "${call.function.name}"`;
    const args = parseJson(call.function.arguments);
    if (!args.ok) return `tool call ${call.function.name}: arguments are not JSON`;
    const p = schemaProblem(tool.function.parameters, args.value, `tool call ${call.function.name}'s arguments`);
    if (p !== undefined) return p;
  }
  return undefined;
}

/** A check that the text matches `pattern` somewhere. */
export function regexCheck(pattern: RegExp): TextCheck {
  return (text) => (pattern.test(text) ? true : `answer does not match /${pattern.source}/`);
}
