/**
 * Grammar specs (JSON mode, JSON schemas, raw GBNF) as GBNF text, through node-llama-cpp's
 * public JSON-schema converter. Schemas are first checked and rewritten by json-schema.ts so
 * the grammar enforces all of them; converted grammars are cached by schema text.
 */
import type { Llama } from "node-llama-cpp";
import { firstLine, InferdError } from "../util/errors.js";
import { Lru } from "../util/lru.js";
import type { GrammarSpec } from "./backend.js";
import { convertibleSchema, schemaKey } from "./json-schema.js";

/**
 * GBNF by schema JSON: a repeated schema costs a lookup. Bounded by count and by GBNF size (the
 * limits in json-schema.ts keep one grammar to some hundreds of KB at worst).
 */
const schemaGrammars = new Lru<string, string>(256, 32 * 1024 * 1024, (gbnf, key) => gbnf.length + key.length);
let jsonGrammar: Promise<string> | undefined;
/** Schema conversions done and served from the cache (tests check that repeats are free). */
export const schemaGrammarStats = { converted: 0, cached: 0 };

/**
 * GBNF text for a grammar spec. JSON schemas go through node-llama-cpp's converter (public
 * API), whose root rule ends in four newlines it uses as a stop trigger: we cut those so the
 * grammar is complete right after the JSON and only end-of-generation can follow.
 */
export async function gbnfFor(llama: Llama, spec: GrammarSpec): Promise<string> {
  let json: string;
  switch (spec.type) {
    case "gbnf":
      return spec.grammar;
    case "json_object":
      jsonGrammar ??= llama.getGrammarFor("json").then((g) => g.grammar);
      json = await jsonGrammar.catch((e: unknown) => {
        jsonGrammar = undefined; // not cached: the next request tries again
        throw e;
      });
      break;
    case "json_schema":
      json = await schemaGbnf(llama, spec.schema, spec.param ?? "response_format");
      break;
    default:
      throw new InferdError("invalid_argument", `unknown grammar type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
  if (spec.prefix === undefined && spec.suffix === undefined) return json;
  // the JSON's own root becomes a rule between the literal prefix and suffix
  const wrapped = json.replace(/^root ::= /m, "json-body ::= ");
  return `root ::= ${gbnfLiteral(spec.prefix ?? "")} json-body ${gbnfLiteral(spec.suffix ?? "")}\n${wrapped}`;
}

async function schemaGbnf(llama: Llama, schema: Record<string, unknown>, param: string): Promise<string> {
  const key = schemaKey(schema, param);
  const cached = schemaGrammars.get(key);
  if (cached !== undefined) {
    schemaGrammarStats.cached++;
    return cached;
  }
  schemaGrammarStats.converted++;
  const convertible = convertibleSchema(schema, param);
  let gbnf: string;
  try {
    gbnf = (await llama.createGrammarForJsonSchema(convertible as never)).grammar;
  } catch (e) {
    // convertibleSchema accepts only what the converter handles: reaching this is inferd's bug
    throw new InferdError("internal", `JSON schema conversion failed: ${firstLine(e)}`, { param });
  }
  gbnf = gbnf.replace(/^(root ::= .*) "(\\n){4}" \[\\n\]\*$/m, "$1");
  gbnf = exactStrings(finiteNumbers(gbnf), JSON.stringify(convertible).includes('"format":"date'));
  if (/"\\n\\n\\n\\n"/.test(gbnf)) throw changed("root rule");
  schemaGrammars.set(key, gbnf);
  return gbnf;
}

/**
 * The rewrites below depend on the exact text of the pinned converter (its terminals are named
 * rules or inlined into root, so they edit the text wherever it is): if it changes, fail loudly
 * rather than hand out a grammar that no longer enforces the schema.
 */
function changed(what: string): InferdError {
  return new InferdError("internal", `node-llama-cpp's GBNF for ${what} is not the one inferd rewrites (was node-llama-cpp upgraded?)`);
}

/**
 * The converter lets numbers carry 16-digit exponents, so an "integer" like -700e1636 parses as
 * -Infinity and fails the schema it was sampled for: integers get no exponent, and other
 * numbers at most two exponent digits (finite in a double).
 */
function finiteNumbers(gbnf: string): string {
  const exponent = ' ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?';
  const fraction = ' ("." [0-9]{1,16})?';
  const short = ' ([eE] [-+]? [0-9]{1,2})?';
  gbnf = gbnf.replaceAll(fraction + exponent, () => fraction + short).replaceAll(exponent, "");
  // every fractional number got the short exponent, and no long one is left
  if (gbnf.includes("[0-9]{0,15}))?") || gbnf.split(fraction).length !== gbnf.split(fraction + short).length) throw changed("numbers");
  return gbnf;
}

/**
 * String contents the schema's validator agrees with. A \uD800-\uDFFF escape is half a
 * character: the grammar counts it as one toward minLength/maxLength where JSON Schema counts the
 * pair as one (and a lone one is not text), so escapes stay outside the surrogate range. The
 * converter's dates allow a 31st of every month; "date" validators check days per month, so
 * months get their own days (February 1-28: the 29th would need the leap-year rule).
 */
function exactStrings(gbnf: string, hasDates: boolean): string {
  const anyEscape = '"\\\\u" [0-9a-fA-F]{4}';
  gbnf = gbnf.replaceAll(anyEscape, () => '"\\\\u" ([0-9a-cA-CefEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})');
  const monthDay = '("0" [1-9] | "1" [012]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])';
  const realDays = '(("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02" "-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))';
  gbnf = gbnf.replaceAll(monthDay, () => realDays);
  if (gbnf.includes(anyEscape) || (hasDates && !gbnf.includes(realDays))) throw changed("strings");
  return gbnf;
}

/** A GBNF string literal ("" matches nothing). */
function gbnfLiteral(text: string): string {
  return JSON.stringify(text);
}
