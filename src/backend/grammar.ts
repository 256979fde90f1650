/**
 * Grammar specs (JSON mode, JSON schemas, raw GBNF) as GBNF text, through node-llama-cpp's
 * public JSON-schema converter.
 */
import type { Llama } from "node-llama-cpp";
import { firstLine, InferdError } from "../util/errors.js";
import type { GrammarSpec } from "./backend.js";

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
      json = (await llama.getGrammarFor("json")).grammar;
      break;
    case "json_schema":
      try {
        json = (await llama.createGrammarForJsonSchema(spec.schema as never)).grammar;
      } catch (e) {
        throw new InferdError("invalid_argument", `unsupported JSON schema: ${firstLine(e)}`, { param: "response_format" });
      }
      json = finiteNumbers(json.replace(/^(root ::= .*?) "(\\n){4}" \[\\n\]\*$/m, "$1"));
      break;
    default:
      throw new InferdError("invalid_argument", `unknown grammar type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
  if (spec.prefix === undefined && spec.suffix === undefined) return json;
  // the JSON's own root becomes a rule between the literal prefix and suffix
  const wrapped = json.replace(/^root ::= /m, "json-body ::= ");
  return `root ::= ${gbnfLiteral(spec.prefix ?? "")} json-body ${gbnfLiteral(spec.suffix ?? "")}\n${wrapped}`;
}

/**
 * The converter lets numbers carry 16-digit exponents, so an "integer" like -700e1636 parses as
 * -Infinity and fails the schema it was sampled for: integers get no exponent, and other
 * numbers at most two exponent digits (finite in a double).
 */
function finiteNumbers(gbnf: string): string {
  const exponent = ' ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?';
  return gbnf.replace(/^(integer-number-rule ::= .*)$/m, (line) => line.replace(exponent, "")).replace(/^(fractional-number-rule ::= .*)$/m, (line) => line.replace(exponent, ' ([eE] [-+]? [0-9]{1,2})?'));
}

/** A GBNF string literal ("" matches nothing). */
function gbnfLiteral(text: string): string {
  return JSON.stringify(text);
}
