/**
 * What a handler knows of its request's life beyond the body: when to stop generating (the
 * client left, or shutdown cut it), and when the request is over (a stream outlives the
 * handler's return). Made by the app for each request from the server's `Lifecycle`.
 */
import { randomUUID } from "node:crypto";
import type { Lifecycle } from "./lifecycle.js";

export interface RequestScope {
  /** The request's id (logs, the ledger, upstreams' x-request-id). */
  readonly id: string;
  /** Aborted when the client goes away or the shutdown deadline cuts the request. */
  readonly signal: AbortSignal;
  /** Whether the abort came from the shutdown cut (the client is still there to be told). */
  wasCut(): boolean;
  /** Ends the request's generations (an error after a stream started). */
  abort(): void;
  /** Keeps the request active past the handler's return (a stream): call the release at its end. */
  hold(): () => void;
}

/**
 * A scope for one request; `end` is for the app to call when the handler returned, and ends
 * the request unless the handler holds it.
 */
export function openScope(lifecycle: Lifecycle, clientSignal: AbortSignal): { scope: RequestScope; end: () => void } {
  const { controller, finished } = lifecycle.begin(clientSignal);
  let held = false;
  const scope: RequestScope = {
    id: randomUUID(),
    signal: controller.signal,
    wasCut: () => lifecycle.wasCut(controller.signal),
    abort: () => controller.abort(),
    hold: () => {
      held = true;
      return finished;
    },
  };
  return { scope, end: () => held || finished() };
}
