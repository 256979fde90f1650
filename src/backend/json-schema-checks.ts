/**
 * Checks on a converted schema (json-schema.ts) that need all of it, every definition included:
 * that recursive definitions can end, and that a oneOf's alternatives never match one value
 * together. The grammar writes the union of the alternatives (anyOf), so a oneOf is only
 * enforced when no output of one alternative can also validate against another.
 */
import { assertNever } from "../util/assert-never.js";
import type { Conv, Literal } from "./json-schema.js";

/** What the checks read from the walk that produced the schema. */
export interface Checked {
  readonly defs: Readonly<Record<string, Conv>>;
  /** Definition id -> its path in the schema as given (for messages). */
  readonly defPaths: ReadonlyMap<string, string>;
  /** Nodes that accept more types than they generate: their types prove nothing. */
  readonly wide: WeakSet<object>;
  /** Objects given `additionalProperties: false`, and objects' `required` (the converter's form keeps neither). */
  readonly closed: WeakSet<object>;
  readonly required: WeakMap<object, readonly string[]>;
  /** Where containers came from in the schema as given (for messages). */
  readonly paths: WeakMap<object, string>;
  /** Steps the overlap checks may still take (they are quadratic in alternatives). */
  fuel: number;
  fail(message: string): never;
}

type Resolved = Exclude<Conv, { $ref: string }>;
type Leaf = Exclude<Resolved, { oneOf: Conv[] }>;
const refId = (n: { $ref: string }): string => n.$ref.slice("#/$defs/".length);

/**
 * Rejects a definition that can never end (every way of writing it contains itself, so the
 * grammar would never finish) or that refers to itself before writing anything (left recursion,
 * which llama.cpp's grammar parser refuses).
 */
export function checkDefs(c: Checked): void {
  const ids = Object.keys(c.defs);
  const ends = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const id of ids) if (!ends.has(id) && canEnd(c.defs[id]!, ends)) (ends.add(id), (grew = true));
  }
  const never = ids.find((id) => !ends.has(id));
  if (never !== undefined) c.fail(`JSON schema "$ref" cycle through ${c.defPaths.get(never)} never ends: every value of it would have to contain itself`);
  for (const id of ids) {
    const seen = new Set<string>();
    const todo = leading(c.defs[id]!);
    while (todo.length > 0) {
      const next = todo.pop()!;
      if (next === id) c.fail(`JSON schema "$ref" at ${c.defPaths.get(id)} refers back to itself before any JSON is written (left recursion), which the grammar cannot express`);
      if (!seen.has(next)) (seen.add(next), todo.push(...leading(c.defs[next]!)));
    }
  }
}

/** Whether a finite value can be written, given the definitions known to end. */
function canEnd(n: Conv, ends: ReadonlySet<string>): boolean {
  if ("$ref" in n) return ends.has(refId(n));
  if ("oneOf" in n) return n.oneOf.some((a) => canEnd(a, ends));
  if ("enum" in n) return true;
  switch (n.type) {
    case "object":
      // every declared property is written; undeclared ones are optional
      return Object.values(n.properties).every((p) => canEnd(p, ends));
    case "array": {
      const prefix = n.prefixItems ?? [];
      return prefix.every((p) => canEnd(p, ends)) && (n.items === undefined || (n.minItems ?? 0) <= prefix.length || canEnd(n.items, ends));
    }
    default:
      return true;
  }
}

/** Definitions a value may start with, before writing any character. */
function leading(n: Conv): string[] {
  if ("$ref" in n) return [refId(n)];
  if ("oneOf" in n) return n.oneOf.flatMap(leading);
  return [];
}

/** Rejects a oneOf unless, for every pair of alternatives, what one generates fails the other. */
export function checkOneOf(alts: readonly Conv[], path: string, c: Checked): void {
  for (let i = 0; i < alts.length; i++) {
    for (let j = 0; j < alts.length; j++) {
      if (i !== j && !excludes(alts[i]!, alts[j]!, c)) {
        if (c.fuel < 0) c.fail(`JSON schema "oneOf" at ${path} is too large to check that its alternatives exclude each other (use "anyOf")`);
        c.fail(`JSON schema "oneOf" at ${path}: alternatives ${Math.min(i, j)} and ${Math.max(i, j)} may both match one value, so exactly-one cannot be enforced (use "anyOf", or tell them apart by a "const" property or by type)`);
      }
    }
  }
}

/** Follows $refs to a node that is not one (checkDefs has ruled out cycles of bare refs). */
function deref(n: Conv, c: Checked): Resolved {
  while ("$ref" in n) n = c.defs[refId(n)]!;
  return n;
}

/** Follows $refs to a node that is not one (undefined past the step budget). */
function resolve(n: Conv, c: Checked): Resolved | undefined {
  while ("$ref" in n) {
    if (--c.fuel < 0) return undefined;
    n = c.defs[refId(n)]!;
  }
  return n as Resolved;
}

/** True when no value `a` generates validates against `b` (false when it cannot tell). */
function excludes(a0: Conv, b0: Conv, c: Checked, depth = 0): boolean {
  // recursive definitions can lead back here: give up rather than recurse without end
  if (--c.fuel < 0 || depth > 64) return false;
  const a = resolve(a0, c);
  const b = resolve(b0, c);
  if (a === undefined || b === undefined || c.wide.has(b)) return false;
  if ("oneOf" in a) return a.oneOf.every((x) => excludes(x, b, c, depth + 1));
  if ("oneOf" in b) return b.oneOf.every((y) => excludes(a, y, c, depth + 1));
  if ("enum" in a) return a.enum.every((v) => !accepts(b, v, c));
  if (a.type === "null") return !accepts(b, null, c);
  if (a.type === "boolean") return !accepts(b, true, c) && !accepts(b, false, c);
  // a generates unboundedly many values of its type: only literals of other types exclude them
  if ("enum" in b) return b.enum.every((v) => !typeFits(v, a.type));
  if (!(a.type === b.type || (a.type === "integer" && b.type === "number") || (a.type === "number" && b.type === "integer"))) return true;
  if (a.type === "object" && b.type === "object") {
    // a always writes each of its properties (and no others, without additionalProperties):
    // one that b forbids or whose value fails b's schema for it, or one b requires that a never
    // writes, fails b
    const fails = Object.entries(a.properties).some(([k, s]) => (Object.hasOwn(b.properties, k) ? excludes(s, b.properties[k]!, c, depth + 1) : c.closed.has(b)));
    return fails || (a.additionalProperties === undefined && (c.required.get(b) ?? []).some((r) => !Object.hasOwn(a.properties, r)));
  }
  return false;
}

/** Whether `b` may accept the literal `v` (true when it cannot tell). */
function accepts(b0: Conv, v: Literal, c: Checked): boolean {
  const b = resolve(b0, c);
  if (b === undefined || c.wide.has(b)) return true;
  if ("oneOf" in b) return b.oneOf.some((y) => accepts(y, v, c));
  if ("enum" in b) return b.enum.includes(v);
  return typeFits(v, b.type);
}

function typeFits(v: Literal, type: Exclude<Leaf, { enum: unknown }>["type"]): boolean {
  switch (type) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "object":
    case "array":
      return false;
    default:
      return assertNever(type);
  }
}

/** The first character of a JSON value tells these apart: alternatives of different kinds never stay alive together. */
type Kind = "object" | "array" | "string" | "number" | "true" | "false" | "null";
type Container = Extract<Leaf, { type: "object" | "array" }>;

/**
 * An upper bound on how many grammar states (llama.cpp "stacks") can be alive at once while
 * sampling. Alternatives that start alike all stay alive, and nested ones multiply: 100 objects
 * sharing a 100-way union cost seconds per token, and a recursive union whose alternatives
 * share their start grows without end. llama.cpp's per-token work grows about quadratically
 * with live states, so past `limit` the schema is rejected.
 */
export function checkLiveStates(root: Conv, c: Checked, limit: number): void {
  const containers = new Set<Container>();
  const collect = (n: Conv): void => {
    if ("$ref" in n || "enum" in n) return;
    if ("oneOf" in n) return n.oneOf.forEach(collect);
    if (n.type !== "object" && n.type !== "array") return;
    if (containers.has(n)) return;
    containers.add(n);
    const kids = n.type === "object" ? [...Object.values(n.properties), ...(n.additionalProperties === undefined || n.additionalProperties === true ? [] : [n.additionalProperties])] : [...(n.prefixItems ?? []), ...(n.items === undefined ? [] : [n.items])];
    kids.forEach(collect);
  };
  [root, ...Object.values(c.defs)].forEach(collect);
  // each container's bound (its costliest part: parts are written one after another), raised
  // until it settles; recursion through alternatives that start alike keeps raising it
  const cost = new Map<Container, number>();
  for (let round = 0, settled = false; !settled; round++) {
    settled = true;
    for (const n of containers) {
      const kids = n.type === "object" ? [...Object.values(n.properties), ...(n.additionalProperties === undefined || n.additionalProperties === true ? [] : [n.additionalProperties])] : [...(n.prefixItems ?? []), ...(n.items === undefined ? [] : [n.items])];
      const v = Math.max(1, ...kids.map((k) => live(k, cost, c)));
      if (v === (cost.get(n) ?? 0)) continue;
      settled = false;
      cost.set(n, v);
      if (v > limit || round > 2 * containers.size + 2) c.fail(`JSON schema too ambiguous at ${c.paths.get(n) ?? "the root"}: alternatives (oneOf/anyOf/enum) that start alike nest${v > limit ? "" : " recursively"}, which could keep ${v > limit ? `over ${limit}` : "unboundedly many"} grammar states alive at once (tell alternatives apart by their first property)`);
    }
  }
  const n = live(root, cost, c);
  if (n > limit) c.fail(`JSON schema too ambiguous at the root: alternatives (oneOf/anyOf/enum) that start alike could keep ${n} grammar states alive at once, the limit is ${limit}`);
}

/** The union's leaves: what it can be once refs and nested unions are flattened (no left recursion by now). */
function leaves(n: Conv, c: Checked): Leaf[] {
  const r = deref(n, c);
  return "oneOf" in r ? r.oneOf.flatMap((a) => leaves(a, c)) : [r];
}

/** Live states while writing a value of `n`, given the containers' bounds so far. */
function live(n: Conv, cost: ReadonlyMap<Container, number>, c: Checked): number {
  const byKind = new Map<Kind, number>();
  const add = (k: Kind, v: number): void => void byKind.set(k, (byKind.get(k) ?? 0) + v);
  const objects: Extract<Leaf, { type: "object" }>[] = [];
  for (const leaf of leaves(n, c)) {
    if ("enum" in leaf) {
      for (const v of leaf.enum) add(v === null ? "null" : v === true ? "true" : v === false ? "false" : typeof v === "string" ? "string" : "number", 1);
    } else if (leaf.type === "object") objects.push(leaf);
    else if (leaf.type === "array") add("array", Math.max(1, cost.get(leaf) ?? 0));
    else add(leaf.type === "integer" ? "number" : leaf.type === "boolean" ? "true" : leaf.type, 1);
  }
  const of = (o: Container): number => Math.max(1, cost.get(o) ?? 0);
  const firstKey = (o: (typeof objects)[number]): string | undefined => (o.additionalProperties === undefined ? Object.keys(o.properties)[0] : undefined);
  if (objects.length > 0) {
    // objects whose first keys differ part while writing the key; those sharing it part in its
    // value when the values are distinct literals: only one then goes on to the fields after it
    const keys = objects.map(firstKey);
    if (keys.some((k) => k === undefined)) add("object", objects.reduce((sum, o) => sum + of(o), 0));
    else {
      let most = objects.length;
      for (const key of new Set(keys)) {
        const group = objects.filter((o) => firstKey(o) === key);
        const literals = group.flatMap((o) => {
          const f = deref(o.properties[key!]!, c);
          return "enum" in f ? f.enum : [NaN];
        });
        const apart = !literals.some((v) => Number.isNaN(v)) && new Set(literals).size === literals.length;
        most = Math.max(most, apart ? Math.max(literals.length, ...group.map(of)) : group.reduce((sum, o) => sum + of(o), 0));
      }
      add("object", most);
    }
  }
  return Math.max(0, ...byKind.values());
}
