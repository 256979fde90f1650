/**
 * Waiting that a caller's AbortSignal can cut short: `abortable` for one promise, `Pulse` for
 * "something changed, look again" (waiters re-check their condition after each notification).
 */

/**
 * `p`, or a rejection with `onAbort()` as soon as `signal` aborts (`p` keeps running: its
 * outcome is then dropped, and a rejection of it still counts as handled).
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(e);
      },
    );
  });
}

/** A notification many can wait for: `notify` wakes every current waiter once. */
export class Pulse {
  private wake!: () => void;
  private next = this.renew();

  /** Wakes everyone waiting now; later waiters wait for the next `notify`. */
  notify(): void {
    const wake = this.wake;
    this.next = this.renew();
    wake();
  }

  /** Resolves at the next `notify`; rejects with `onAbort()` if `signal` aborts first. */
  wait(signal?: AbortSignal, onAbort: () => Error = () => new Error("aborted")): Promise<void> {
    return abortable(this.next, signal, onAbort);
  }

  private renew(): Promise<void> {
    // Node 20 has no Promise.withResolvers
    return new Promise<void>((resolve) => (this.wake = resolve));
  }
}
