/**
 * What a handler knows of its request's life beyond the body: when to stop generating (the
 * client left, or shutdown cut it), and when the request is over (a stream outlives the
 * handler's return). Made by the app for each request from the server's `Lifecycle`.
 */
import { randomUUID } from "node:crypto";
import type { RequestInfo } from "../gateway/accountant.js";
import type { Lifecycle } from "./lifecycle.js";

export interface RequestScope {
  /** The request's id (logs, the ledger, upstreams' x-request-id). */
  readonly id: string;
  /** Who asked and how, for the gateway's books. */
  readonly info: RequestInfo;
  /** Aborted when the client goes away or the shutdown deadline cuts the request. */
  readonly signal: AbortSignal;
  /** Whether the abort came from the shutdown cut (the client is still there to be told). */
  wasCut(): boolean;
  /** Ends the request's generations (an error after a stream started). */
  abort(): void;
  /** Keeps the request active past the handler's return (a stream): call the release at its end. */
  hold(): () => void;
  /** Runs `fn` when the request is over (after its stream, if any), before it stops counting as active. */
  atEnd(fn: () => Promise<void>): void;
}

/**
 * A scope for one request; `end` is for the app to call when the handler returned, and ends
 * the request unless the handler holds it.
 */
export function openScope(
  lifecycle: Lifecycle,
  clientSignal: AbortSignal,
  who: Pick<RequestInfo, "key" | "user" | "tag" | "stream">,
): { scope: RequestScope; end: () => void } {
  const { controller, finished } = lifecycle.begin(clientSignal);
  let held = false;
  const enders: (() => Promise<void>)[] = [];
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    void Promise.all(enders.map((fn) => fn().catch((e) => process.stderr.write(`[inferd] ending request: ${e instanceof Error ? e.message : String(e)}\n`)))).finally(finished);
  };
  const id = randomUUID();
  const wasCut = () => lifecycle.wasCut(controller.signal);
  const scope: RequestScope = {
    id,
    info: { id, arrival: Date.now(), ...who, wasCut },
    signal: controller.signal,
    wasCut,
    abort: () => controller.abort(),
    hold: () => {
      held = true;
      return finish;
    },
    atEnd: (fn) => enders.push(fn),
  };
  return { scope, end: () => held || finish() };
}
