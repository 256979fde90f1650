/** Plain-text tables for the CLI: columns padded to their widest cell, numbers aligned right. */

/** Which side of its column a cell sits on. */
export type Align = "left" | "right";

/**
 * `header` and `rows` as lines, two spaces between columns, no trailing spaces (so the output
 * diffs and greps cleanly). `align[i]` is column i's side (default left).
 */
export function formatColumns(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    widths
      .map((w, i) => {
        const cell = r[i] ?? "";
        switch (align[i] ?? "left") {
          case "left":
            return cell.padEnd(w);
          case "right":
            return cell.padStart(w);
        }
      })
      .join("  ")
      .trimEnd();
  return [header, ...rows].map(line).join("\n") + "\n";
}
