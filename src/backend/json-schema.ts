/**
 * JSON schemas (response_format, tool parameters) checked and rewritten into the part of JSON
 * Schema that node-llama-cpp's GBNF converter enforces, before it runs. The converter silently
 * ignores what it does not know (`minimum`, `pattern`, a dangling `$ref`...), so here every
 * keyword is enforced by the grammar, rewritten into a form the converter enforces, or rejected:
 * whatever is sampled under the grammar validates against the schema given. A rewrite may narrow
 * what is generated (never what is valid): e.g. objects never get undeclared properties.
 *
 * Conversion and native grammar parsing run synchronously on the event loop and grow faster than
 * linearly (a 30,000-value enum took 25 s), so LIMITS bound the work before any of it is done.
 */
import { InferdError } from "../util/errors.js";
import { assertNever } from "../util/assert-never.js";
import { checkDefs, checkLiveStates, checkOneOf, type Checked } from "./json-schema-checks.js";
import { at, checkText, count0, integer, literal, NUMERIC } from "./json-schema-literals.js";

/** Measured with test/measure-json-schema.ts: the worst schemas within them compiled in 1-25 ms here (2 shared cores). */
export const LIMITS = {
  bytes: 32 * 1024, // of the schema's JSON
  depth: 32, // nested subschemas
  subschemas: 1000,
  literals: 1000, // enum and const values (and integer ranges, which become enums) in all
  properties: 500, // in all objects together
  alternatives: 128, // in one oneOf/anyOf
  repeat: 1000, // one minLength/maxLength/minItems/maxItems/maxProperties (llama.cpp ignores more than 2000)
  repeatTotal: 5000, // those summed over the schema: each counted repetition is a grammar rule
  liveStates: 1000, // grammar states alive at once while sampling (alternatives that start alike)
} as const;

export type Literal = string | number | boolean | null;
export type Format = "date" | "time" | "date-time";
/** The converter's schema forms inferd emits (a subset of node-llama-cpp's GbnfJsonSchema). */
export type Conv =
  | { enum: Literal[] }
  | { oneOf: Conv[] }
  | { $ref: string }
  | { type: "null" | "boolean" | "number" | "integer" }
  | { type: "string"; minLength?: number; maxLength?: number }
  | { type: "string"; format: Format }
  | { type: "object"; properties: Record<string, Conv>; additionalProperties?: Conv | true; maxProperties?: number }
  | { type: "array"; items?: Conv; prefixItems?: Conv[]; minItems?: number; maxItems?: number };

export type TypeName = "null" | "boolean" | "number" | "integer" | "string" | "object" | "array";
export type Raw = Record<string, unknown>;
interface Scope { defs: Map<string, Def>; parent: Scope | undefined }
interface Def { id: string; raw: unknown; scope: Scope; path: string; started: boolean }

const TYPES: readonly TypeName[] = ["null", "boolean", "number", "integer", "string", "object", "array"];
const FORMATS: readonly Format[] = ["date", "time", "date-time"];
const ANNOTATIONS = new Set(["title", "description", "$schema", "$id", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly"]);
/** Keywords that only constrain one kind of value, and the types they apply to. */
const FAMILIES: readonly (readonly [readonly string[], readonly TypeName[]])[] = [
  [["minLength", "maxLength", "format"], ["string"]],
  [NUMERIC, ["number", "integer"]],
  [["properties", "required", "additionalProperties", "minProperties", "maxProperties"], ["object"]],
  [["items", "prefixItems", "minItems", "maxItems"], ["array"]],
];
const KNOWN = new Set([...FAMILIES.flatMap(([k]) => k), "type", "enum", "const", "oneOf", "anyOf", "allOf", "$ref", "$defs", "definitions"]);
/** Real JSON Schema keywords whose constraint no grammar rule here can express. */
const UNENFORCEABLE = new Set(["pattern", "patternProperties", "propertyNames", "uniqueItems", "contains", "minContains", "maxContains", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems", "additionalItems", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary", "contentEncoding", "contentMediaType", "contentSchema"]);
/** Any JSON value: what `{}` and `true` allow (the converter reads `{}` as null only). */
const ANY: Conv = { oneOf: [{ type: "string" }, { type: "number" }, { type: "boolean" }, { type: "null" }, { type: "array" }, { type: "object", properties: {}, additionalProperties: true }] };

/**
 * The schema's JSON, the cache key for its grammar; rejects schemas over LIMITS.bytes (and
 * cyclic or absurdly deep objects, which JSON.stringify cannot write).
 */
export function schemaKey(schema: unknown, param: string): string {
  let json: string;
  try {
    json = JSON.stringify(schema);
  } catch (e) {
    throw new InferdError("invalid_argument", `JSON schema is not serializable JSON (${e instanceof Error ? e.message : String(e)})`, { param });
  }
  if (typeof json !== "string") throw new InferdError("invalid_argument", "JSON schema must be a JSON object or boolean", { param });
  const bytes = Buffer.byteLength(json);
  if (bytes > LIMITS.bytes) throw new InferdError("invalid_argument", `JSON schema too large: ${bytes} bytes of JSON, the limit is ${LIMITS.bytes}`, { param });
  return json;
}

/** The schema in the converter's terms; InferdError "invalid_argument" (with `param`) names what cannot be enforced. */
export function convertibleSchema(schema: unknown, param: string): Record<string, unknown> {
  const w = new Walker(param);
  const root = w.walk(schema, "", undefined, 0);
  checkDefs(w);
  checkLiveStates(root, w, LIMITS.liveStates);
  for (const o of w.oneOfs) checkOneOf(o.alts, o.path, w);
  return Object.keys(w.defs).length === 0 ? { ...root } : { ...root, $defs: w.defs };
}

const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);
function sub(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  const k = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  return path === "" ? k : /^"/.test(k) ? `${path}[${k}]` : `${path}.${k}`;
}

class Walker implements Checked {
  readonly defs: Record<string, Conv> = {};
  readonly defPaths = new Map<string, string>();
  readonly oneOfs: { alts: Conv[]; path: string }[] = [];
  /** Nodes that accept values of types they never generate (types inferred from keywords): oneOf checks must not rely on their types. */
  readonly wide = new WeakSet<object>();
  readonly closed = new WeakSet<object>();
  readonly required = new WeakMap<object, readonly string[]>();
  readonly paths = new WeakMap<object, string>();
  fuel = 100_000; // steps the oneOf overlap checks may take in all
  private nodes = 0;
  private literals = 0;
  private properties = 0;
  private repeats = 0;

  constructor(private readonly param: string) {}

  fail(message: string): never {
    throw new InferdError("invalid_argument", message, { param: this.param });
  }

  walk(raw: unknown, path: string, outer: Scope | undefined, depth: number): Conv {
    if (depth > LIMITS.depth) this.fail(`JSON schema nested too deep at ${at(path)}: the limit is ${LIMITS.depth} levels`);
    if (++this.nodes > LIMITS.subschemas) this.fail(`JSON schema has too many subschemas (at ${at(path)}): the limit is ${LIMITS.subschemas}`);
    if (raw === true) return ANY;
    if (raw === false) this.fail(`JSON schema false at ${at(path)} allows no value at all`);
    if (!isObject(raw)) this.fail(`JSON schema at ${at(path)} must be an object or a boolean`);
    for (const k of Object.keys(raw)) {
      if (ANNOTATIONS.has(k) || KNOWN.has(k)) continue;
      this.fail(`unsupported JSON schema keyword ${JSON.stringify(k)} at ${at(path)} (${UNENFORCEABLE.has(k) ? "the grammar cannot enforce it" : "not a keyword inferd knows"})`);
    }
    const scope = this.scope(raw, path, outer);
    const combinator = (["$ref", "allOf", "oneOf", "anyOf"] as const).filter((k) => k in raw);
    if ("enum" in raw || "const" in raw) {
      if (combinator.length > 0) this.fail(`JSON schema keyword "${combinator[0]}" alongside "enum"/"const" at ${at(path)} is not supported`);
      return literal(raw, this.types(raw, path), path, this);
    }
    if (combinator.length > 0) {
      const k = combinator[0]!;
      const other = Object.keys(raw).find((x) => x !== k && !ANNOTATIONS.has(x) && x !== "$defs" && x !== "definitions");
      if (other !== undefined) this.fail(`JSON schema keyword ${JSON.stringify(other)} alongside "${k}" at ${at(path)} is not supported`);
      if (k === "$ref") return this.ref(raw.$ref, path, scope, depth);
      const list = raw[k];
      if (!Array.isArray(list) || list.length === 0) this.fail(`JSON schema keyword "${k}" at ${at(path)} must be a non-empty array`);
      if (k === "allOf" && list.length > 1) this.fail(`JSON schema keyword "allOf" at ${at(path)} with ${list.length} schemas is not supported (only one)`);
      if (list.length > LIMITS.alternatives) this.fail(`JSON schema keyword "${k}" at ${at(path)} has ${list.length} alternatives: the limit is ${LIMITS.alternatives}`);
      const alts = list.map((s, i) => this.walk(s, sub(sub(path, k), i), scope, depth + 1));
      if (alts.length === 1) return alts[0]!;
      const union: Conv = { oneOf: alts };
      if (alts.some((a) => this.wide.has(a))) this.wide.add(union);
      if (k === "oneOf") this.oneOfs.push({ alts, path: at(path) });
      return union;
    }
    const present = FAMILIES.filter(([keys]) => keys.some((k) => k in raw));
    let types = this.types(raw, path);
    if (types !== undefined) {
      for (const [keys, applies] of present) {
        if (!applies.some((a) => types!.includes(a))) this.fail(`JSON schema keyword "${keys.find((k) => k in raw)}" at ${at(path)} does not apply to type ${JSON.stringify(raw.type)}`);
      }
    } else {
      if (present.length === 0) return ANY;
      // keywords without "type" constrain only values of their kind: generate that kind
      types = present.map(([, applies]) => applies[0]!);
    }
    const alts = types.map((t) => this.typed(t, raw, path, scope, depth));
    const node: Conv = alts.length === 1 ? alts[0]! : { oneOf: alts };
    if (!("type" in raw)) this.wide.add(node);
    return node;
  }

  private types(raw: Raw, path: string): TypeName[] | undefined {
    if (!("type" in raw)) return undefined;
    const t = Array.isArray(raw.type) ? raw.type : [raw.type];
    if (t.length === 0 || new Set(t).size !== t.length || !t.every((x) => TYPES.includes(x as TypeName))) this.fail(`JSON schema keyword "type" at ${at(path)} must be one of ${TYPES.join(", ")}, or a non-empty array of them`);
    return t as TypeName[];
  }

  /** The $defs / definitions a schema declares, as a scope for the $refs inside it. */
  private scope(raw: Raw, path: string, outer: Scope | undefined): Scope | undefined {
    if (!("$defs" in raw) && !("definitions" in raw)) return outer;
    const scope: Scope = { defs: new Map(), parent: outer };
    for (const kind of ["$defs", "definitions"] as const) {
      if (!(kind in raw)) continue;
      const defs = raw[kind];
      if (!isObject(defs)) this.fail(`JSON schema keyword "${kind}" at ${at(path)} must be an object`);
      for (const [name, def] of Object.entries(defs)) {
        const key = `${kind}/${name}`;
        // refs resolve to the nearest enclosing definition (tool parameters sit inside a wrapper);
        // JSON Schema resolves #/$defs from the root, so both agree only without shadowing
        for (let s = outer; s !== undefined; s = s.parent) if (s.defs.has(key)) this.fail(`JSON schema definition ${sub(sub(path, kind), name)} shadows one of the same name outside it`);
        const id = `d${this.defPaths.size}`;
        scope.defs.set(key, { id, raw: def, scope, path: sub(sub(path, kind), name), started: false });
        this.defPaths.set(id, sub(sub(path, kind), name));
      }
    }
    return scope;
  }

  private ref(ref: unknown, path: string, scope: Scope | undefined, depth: number): Conv {
    if (typeof ref !== "string") this.fail(`JSON schema keyword "$ref" at ${at(path)} must be a string`);
    let m: RegExpExecArray | null = null;
    try {
      m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(decodeURIComponent(ref));
    } catch {
      // a malformed %-escape: reported below like any other unsupported reference
    }
    if (m === null) this.fail(`JSON schema "$ref" ${JSON.stringify(ref)} at ${at(path)} is not supported: only local references to #/$defs/<name> or #/definitions/<name>`);
    const key = `${m[1]}/${m[2]!.replaceAll("~1", "/").replaceAll("~0", "~")}`;
    let def: Def | undefined;
    for (let s = scope; s !== undefined && def === undefined; s = s.parent) def = s.defs.get(key);
    if (def === undefined) this.fail(`JSON schema "$ref" ${JSON.stringify(ref)} at ${at(path)} names no definition`);
    if (!def.started) {
      def.started = true; // a recursive reference inside it only needs the id
      // nested one level below its first reference: the depth limit then bounds chains of
      // definitions too, which every recursive walk here and in the converter follows
      this.defs[def.id] = this.walk(def.raw, def.path, def.scope, depth + 1);
    }
    return { $ref: `#/$defs/${def.id}` };
  }

  private typed(t: TypeName, raw: Raw, path: string, scope: Scope | undefined, depth: number): Conv {
    switch (t) {
      case "null":
      case "boolean":
        return { type: t };
      case "number": {
        const k = NUMERIC.find((x) => x in raw);
        if (k !== undefined) this.fail(`JSON schema keyword "${k}" at ${at(path)} cannot be enforced on type "number" (only on "integer", as a range of at most ${LIMITS.literals} values)`);
        return { type: "number" };
      }
      case "integer":
        return integer(raw, path, this);
      case "string": {
        if ("format" in raw) {
          if (!FORMATS.includes(raw.format as Format)) this.fail(`JSON schema format ${JSON.stringify(raw.format)} at ${at(path)} is not supported (only ${FORMATS.join(", ")})`);
          if ("minLength" in raw || "maxLength" in raw) this.fail(`JSON schema keywords "minLength"/"maxLength" alongside "format" at ${at(path)} are not supported`);
          return { type: "string", format: raw.format as Format };
        }
        const [min, max] = this.range(raw, "minLength", "maxLength", path);
        this.repeated(Math.max(min, max ?? 0), path);
        return { type: "string", ...(min > 0 ? { minLength: min } : {}), ...(max !== undefined ? { maxLength: max } : {}) };
      }
      case "object":
        return this.object(raw, path, scope, depth);
      case "array":
        return this.array(raw, path, scope, depth);
      default:
        return assertNever(t);
    }
  }

  private object(raw: Raw, path: string, scope: Scope | undefined, depth: number): Conv {
    const props = raw.properties === undefined ? {} : raw.properties;
    if (!isObject(props)) this.fail(`JSON schema keyword "properties" at ${at(path)} must be an object`);
    const names = Object.keys(props);
    this.count("properties", names.length, "properties", path);
    for (const n of names) checkText(n, path, "property name", this);
    const required = raw.required === undefined ? [] : raw.required;
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) this.fail(`JSON schema keyword "required" at ${at(path)} must be an array of strings`);
    // the converter writes every listed property, always: a required one it does not list would be missing
    const missing = required.find((r) => !Object.hasOwn(props, r));
    if (missing !== undefined) this.fail(`JSON schema keyword "required" at ${at(path)} names ${JSON.stringify(missing)}, which "properties" does not define`);
    const ap = raw.additionalProperties;
    if (ap !== undefined && typeof ap !== "boolean" && !isObject(ap)) this.fail(`JSON schema keyword "additionalProperties" at ${at(path)} must be a boolean or a schema`);
    // undeclared properties only where none are declared: a generated key could repeat a declared one
    const extras = names.length === 0 && ap !== false && (ap !== undefined || raw.properties === undefined);
    const [min, max] = this.range(raw, "minProperties", "maxProperties", path);
    if (extras && min > 0) this.fail(`JSON schema keyword "minProperties" at ${at(path)} cannot be enforced on undeclared properties (the grammar cannot keep generated keys distinct)`);
    if (!extras && min > names.length) this.fail(`JSON schema keyword "minProperties" at ${at(path)} asks for more than the ${names.length} declared properties (undeclared ones are not generated)`);
    if (!extras && max !== undefined && max < names.length) this.fail(`JSON schema keyword "maxProperties" at ${at(path)} is below the ${names.length} declared properties, which the grammar always writes`);
    if (extras) this.repeated(max ?? 0, path);
    const properties = Object.fromEntries(names.map((n) => [n, this.walk(props[n], sub(sub(path, "properties"), n), scope, depth + 1)]));
    const additional = !extras ? undefined : ap === true || ap === undefined ? true : this.walk(ap, sub(path, "additionalProperties"), scope, depth + 1);
    const node: Conv = { type: "object", properties, ...(additional !== undefined ? { additionalProperties: additional } : {}), ...(extras && max !== undefined ? { maxProperties: max } : {}) };
    if (ap === false) this.closed.add(node);
    this.required.set(node, required);
    this.paths.set(node, at(path));
    return node;
  }

  private array(raw: Raw, path: string, scope: Scope | undefined, depth: number): Conv {
    const items = raw.items;
    if (Array.isArray(items)) this.fail(`JSON schema keyword "items" at ${at(path)} as an array (draft-07 tuples) is not supported: use "prefixItems"`);
    const prefix = raw.prefixItems === undefined ? [] : raw.prefixItems;
    if (!Array.isArray(prefix)) this.fail(`JSON schema keyword "prefixItems" at ${at(path)} must be an array`);
    let [min, max] = this.range(raw, "minItems", "maxItems", path);
    if (items === false) max = Math.min(max ?? prefix.length, prefix.length);
    if (max !== undefined && min > max) this.fail(`JSON schema keyword "minItems" at ${at(path)}: no array of at least ${min} items satisfies the schema`);
    // the converter always writes every prefix item: beyond maxItems they are dropped
    const kept = max === undefined ? prefix : prefix.slice(0, max);
    this.repeated(Math.max(min, max ?? 0), path);
    const prefixItems = kept.map((s, i) => this.walk(s, sub(sub(path, "prefixItems"), i), scope, depth + 1));
    const itemSchema = items === undefined || typeof items === "boolean" ? undefined : this.walk(items, sub(path, "items"), scope, depth + 1);
    const node: Conv = { type: "array", ...(itemSchema !== undefined ? { items: itemSchema } : {}), ...(prefixItems.length > 0 ? { prefixItems } : {}), ...(min > 0 ? { minItems: min } : {}), ...(max !== undefined ? { maxItems: max } : {}) };
    this.paths.set(node, at(path));
    return node;
  }

  /** A min/max count pair (lengths, items, properties), counted against the repetition limits. */
  private range(raw: Raw, minKey: string, maxKey: string, path: string): [number, number | undefined] {
    const min = count0(raw, minKey, path, this) ?? 0;
    const max = count0(raw, maxKey, path, this);
    for (const [k, v] of [[minKey, min], [maxKey, max ?? 0]] as const) {
      if (v > LIMITS.repeat) this.fail(`JSON schema keyword "${k}" at ${at(path)} is ${v}: the limit is ${LIMITS.repeat}`);
    }
    if (max !== undefined && min > max) this.fail(`JSON schema keyword "${minKey}" at ${at(path)} is above "${maxKey}": no value satisfies both`);
    return [min, max];
  }

  /** Each bounded repetition becomes that many grammar rules (llama.cpp expands x{m,n}). */
  private repeated(n: number, path: string): void {
    this.count("repeats", n, "repetitions (minLength/maxLength/minItems/maxItems/maxProperties summed)", path);
  }

  count(what: "literals" | "properties" | "repeats", n: number, label: string, path: string): void {
    this[what] += n;
    const limit = what === "literals" ? LIMITS.literals : what === "properties" ? LIMITS.properties : LIMITS.repeatTotal;
    if (this[what] > limit) this.fail(`JSON schema has too many ${label} (at ${at(path)}): the limit is ${limit} for the whole schema`);
  }

}
