/**
 * The values of enum / const, and integer ranges (which become enums: the converter enforces
 * no bounds), for json-schema.ts. A literal set must also satisfy the schema's other keywords,
 * since the converter writes only the literals and ignores the rest.
 */
import type { Conv, Literal, Raw, TypeName } from "./json-schema.js";
import { LIMITS } from "./json-schema.js";

/** What these need from the walk: its error (with the request's param) and its counters. */
export interface Context {
  fail(message: string): never;
  count(what: "literals", n: number, label: string, path: string): void;
}

export const NUMERIC = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"] as const;
export const at = (path: string): string => (path === "" ? "the root" : path);

/** enum / const: the values that also satisfy the schema's other keywords. */
export function literal(raw: Raw, types: TypeName[] | undefined, path: string, ctx: Context): Conv {
  let values: unknown[];
  if ("enum" in raw) {
    if (!Array.isArray(raw.enum) || raw.enum.length === 0) ctx.fail(`JSON schema keyword "enum" at ${at(path)} must be a non-empty array`);
    values = "const" in raw ? raw.enum.filter((v) => v === raw.const) : raw.enum;
  } else values = [raw.const];
  ctx.count("literals", values.length, "enum/const values", path);
  for (const v of values) {
    if (v !== null && !["string", "number", "boolean"].includes(typeof v)) ctx.fail(`JSON schema "enum"/"const" at ${at(path)}: only string, number, boolean and null values are supported`);
    if (typeof v === "string") checkText(v, path, "enum/const value", ctx);
  }
  if ("format" in raw) ctx.fail(`JSON schema keyword "format" alongside "enum"/"const" at ${at(path)} is not supported`);
  const kept = [...new Set(values as Literal[])].filter((v) => literalFits(v, raw, types, path, ctx));
  if (kept.length === 0) ctx.fail(`JSON schema "enum"/"const" at ${at(path)}: no value satisfies the rest of the schema`);
  return { enum: kept };
}

function literalFits(v: Literal, raw: Raw, types: TypeName[] | undefined, path: string, ctx: Context): boolean {
  if (types !== undefined) {
    const t = (v === null ? "null" : typeof v) as TypeName;
    if (!types.includes(t) && !(typeof v === "number" && Number.isInteger(v) && types.includes("integer"))) return false;
  }
  if (typeof v === "string") {
    const n = [...v].length; // code points, as JSON Schema (and ajv) count
    return n >= (count0(raw, "minLength", path, ctx) ?? 0) && n <= (count0(raw, "maxLength", path, ctx) ?? Infinity);
  }
  if (typeof v === "number") {
    const b = bounds(raw, path, ctx);
    return v >= b.min && v <= b.max && (b.exMin === undefined || v > b.exMin) && (b.exMax === undefined || v < b.exMax) && (b.multipleOf === undefined || Number.isInteger(v / b.multipleOf));
  }
  return true;
}

/** Integers with bounds become the enum of the range: the converter has no bounds. */
export function integer(raw: Raw, path: string, ctx: Context): Conv {
  const b = bounds(raw, path, ctx);
  const named = NUMERIC.filter((k) => k in raw).map((k) => `"${k}"`).join(", ");
  if (named === "") return { type: "integer" };
  const lo = Math.max(Math.ceil(b.min), b.exMin === undefined ? -Infinity : Math.floor(b.exMin) + 1);
  const hi = Math.min(Math.floor(b.max), b.exMax === undefined ? Infinity : Math.ceil(b.exMax) - 1);
  const size = hi - lo + 1;
  // unsafe integers would also never step (1e300 + 1 === 1e300)
  if (!(size <= LIMITS.literals) || !Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) ctx.fail(`JSON schema ${named.includes(",") ? "keywords" : "keyword"} ${named} at ${at(path)}: ${Number.isFinite(size) ? `the range holds ${size} integers` : "the range is unbounded"}, and only ranges of at most ${LIMITS.literals} integers can be enforced`);
  ctx.count("literals", Math.max(0, size), "enum/const values", path);
  const values: number[] = [];
  for (let v = lo; v <= hi; v++) if (b.multipleOf === undefined || Number.isInteger(v / b.multipleOf)) values.push(v);
  if (values.length === 0) ctx.fail(`JSON schema ${named.includes(",") ? "keywords" : "keyword"} ${named} at ${at(path)}: no integer satisfies them`);
  return { enum: values };
}

function bounds(raw: Raw, path: string, ctx: Context): { min: number; max: number; exMin?: number; exMax?: number; multipleOf?: number } {
  const num = (k: string): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) ctx.fail(`JSON schema keyword "${k}" at ${at(path)} must be a number${typeof v === "boolean" ? " (the draft-04 boolean form is not supported)" : ""}`);
    return v;
  };
  const multipleOf = num("multipleOf");
  if (multipleOf !== undefined && !(multipleOf > 0)) ctx.fail(`JSON schema keyword "multipleOf" at ${at(path)} must be greater than 0`);
  const [exMin, exMax] = [num("exclusiveMinimum"), num("exclusiveMaximum")];
  return { min: num("minimum") ?? -Infinity, max: num("maximum") ?? Infinity, ...(exMin !== undefined ? { exMin } : {}), ...(exMax !== undefined ? { exMax } : {}), ...(multipleOf !== undefined ? { multipleOf } : {}) };
}

/** A count keyword's value (lengths, items, properties): undefined when absent. */
export function count0(raw: Raw, k: string, path: string, ctx: Pick<Context, "fail">): number | undefined {
  const v = raw[k];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) ctx.fail(`JSON schema keyword "${k}" at ${at(path)} must be a non-negative integer`);
  return v;
}

/** Strings the converter copies into the grammar verbatim: it escapes only \\ " \t \n \r. */
export function checkText(s: string, path: string, what: string, ctx: Pick<Context, "fail">): void {
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]|[\ud800-\udfff]/u.test(s)) ctx.fail(`JSON schema ${what} ${JSON.stringify(s)} at ${at(path)} holds a control character or a lone surrogate, which the grammar cannot write`);
}
