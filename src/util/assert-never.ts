/** Exhaustiveness check for switches over string-literal unions: a new member fails to compile. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
