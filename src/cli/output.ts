/**
 * Writes to stdout and waits when the pipe is full, so a slow reader throttles generation
 * instead of buffering without bound. A closed pipe (e.g. `| head`) ends the process quietly.
 */
export function writeOut(text: string): Promise<void> | void {
  if (process.stdout.write(text)) return;
  return new Promise((resolve) => process.stdout.once("drain", resolve));
}

process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  process.stderr.write(`inferd: cannot write to stdout: ${e.message}\n`);
  process.exit(1);
});
