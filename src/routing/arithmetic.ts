/**
 * A tiny safe evaluator for the arithmetic a model writes in its working (`<<48/2=24>>`):
 * numbers, + - * / % ^, unary minus, parentheses. Anything else is refused (undefined), never
 * run: no eval, no Function.
 */

type Tok = { kind: "num"; value: number } | { kind: "op"; value: string };

function lex(src: string): Tok[] | undefined {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    const m = /^(\d[\d,]*(?:\.\d+)?|\.\d+)/.exec(src.slice(i));
    if (m) {
      const value = Number(m[1]!.replaceAll(",", ""));
      if (!Number.isFinite(value)) return undefined;
      out.push({ kind: "num", value });
      i += m[1]!.length;
      continue;
    }
    if ("+-*/%^()".includes(c)) {
      out.push({ kind: "op", value: c });
      i++;
      continue;
    }
    // "x" and "×" are the multiplications people write
    if (c === "x" || c === "×") {
      out.push({ kind: "op", value: "*" });
      i++;
      continue;
    }
    if (c === "$") {
      i++;
      continue;
    }
    return undefined;
  }
  return out;
}

/** Evaluates `src`; undefined when it is not plain arithmetic (or is too long to be working). */
export function evaluate(src: string): number | undefined {
  if (src.length > 200) return undefined;
  const toks = lex(src);
  if (toks === undefined || toks.length === 0) return undefined;
  let pos = 0;
  const peek = () => toks[pos];
  const isOp = (v: string) => peek()?.kind === "op" && peek()!.value === v;
  // expr := term (('+'|'-') term)* ; term := power (('*'|'/'|'%') power)* ; power := unary ('^' power)?
  const expr = (): number | undefined => {
    let v = term();
    while (v !== undefined && (isOp("+") || isOp("-"))) {
      const op = toks[pos++]!.value;
      const r = term();
      if (r === undefined) return undefined;
      v = op === "+" ? v + r : v - r;
    }
    return v;
  };
  const term = (): number | undefined => {
    let v = power();
    while (v !== undefined && (isOp("*") || isOp("/") || isOp("%"))) {
      const op = toks[pos++]!.value;
      const r = power();
      if (r === undefined) return undefined;
      v = op === "*" ? v * r : op === "/" ? v / r : v % r;
    }
    return v;
  };
  const power = (): number | undefined => {
    const b = unary();
    if (b === undefined || !isOp("^")) return b;
    pos++;
    const e = power();
    return e === undefined ? undefined : b ** e;
  };
  const unary = (): number | undefined => {
    if (isOp("-")) {
      pos++;
      const v = unary();
      return v === undefined ? undefined : -v;
    }
    if (isOp("(")) {
      pos++;
      const v = expr();
      if (!isOp(")")) return undefined;
      pos++;
      return v;
    }
    const t = peek();
    if (t?.kind !== "num") return undefined;
    pos++;
    return t.value;
  };
  const v = expr();
  return v !== undefined && pos === toks.length && Number.isFinite(v) ? v : undefined;
}

/** A number as written ("1,250", "$3.50", "-4"), or undefined. */
export function parseNumber(s: string): number | undefined {
  const t = s.trim().replace(/^\$/, "").replaceAll(",", "");
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(t)) return undefined;
  return Number(t);
}
