/**
 * The server's shutdown, as the request handlers see it: `drain` (no new requests: 503), then
 * `cut` at the deadline (running generations end, and each response says so in its protocol's
 * terms instead of a dropped connection). The process part (signals, sockets) is the CLI's.
 */
import { setMaxListeners } from "node:events";
import { HttpError } from "./errors.js";

export class Lifecycle {
  private readonly cutter = new AbortController();
  constructor() {
    // every running request listens for the cut
    setMaxListeners(0, this.cutter.signal);
  }
  private drainingSince: number | undefined;
  private readonly active = new Set<AbortController>();
  private readonly idleWaiters: (() => void)[] = [];

  /** True once shutdown began. */
  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  /** Aborted at the shutdown deadline. */
  get cutSignal(): AbortSignal {
    return this.cutter.signal;
  }

  /** Requests being answered now. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Stops taking requests; the ones running go on. */
  drain(): void {
    this.drainingSince ??= Date.now();
    if (this.active.size === 0) this.wakeIdle();
  }

  /** Ends every running generation now (the deadline passed). */
  cut(): void {
    this.drain();
    this.cutter.abort(new HttpError(503, "the server is shutting down", "server_error", null, "server_shutdown"));
  }

  /** Resolves when no request is being answered (at once if none is). */
  idle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts a request: throws 503 while draining, else returns its abort controller, aborted when
   * the client goes away (`clientSignal`) or at the shutdown cut. Call `finished` when its
   * response has ended.
   */
  begin(clientSignal: AbortSignal): { controller: AbortController; finished: () => void } {
    if (this.draining) throw new HttpError(503, "the server is shutting down", "server_error", null, "server_shutdown");
    const controller = new AbortController();
    const onClient = () => controller.abort(clientSignal.reason);
    const onCut = () => controller.abort(this.cutter.signal.reason);
    if (clientSignal.aborted) onClient();
    else clientSignal.addEventListener("abort", onClient, { once: true });
    this.cutter.signal.addEventListener("abort", onCut, { once: true });
    this.active.add(controller);
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      clientSignal.removeEventListener("abort", onClient);
      this.cutter.signal.removeEventListener("abort", onCut);
      this.active.delete(controller);
      if (this.active.size === 0) this.wakeIdle();
    };
    return { controller, finished };
  }

  /** Whether an abort came from the shutdown cut (not from the client). */
  wasCut(signal: AbortSignal): boolean {
    return signal.aborted && this.cutter.signal.aborted && signal.reason === this.cutter.signal.reason;
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
