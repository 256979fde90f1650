/**
 * A 2xx answer whose body the caller now owns. Reading it is where retries end: a failure from
 * here on (idle or total timeout, a reset, a cut or malformed event stream) is thrown to the
 * reader as an InferdError, and counted against the upstream's circuit when it is the upstream's
 * fault, but never retried, since part of the answer may already be on its way to a client.
 */
import type { Readable } from "node:stream";
import { InferdError } from "../../util/errors.js";
import type { CallScope } from "./call-scope.js";
import { parseSse, type SseEvent, type SseOptions } from "./sse.js";

/** Largest body json()/text() read (64 MiB): a runaway upstream must not exhaust memory. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Response headers as undici gives them (lower-case names). */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

export class UpstreamResponse {
  private claimed = false;

  /** Built by Upstream; `onBodyEnd` tells the circuit breaker whether the body came whole or broke off. */
  constructor(
    readonly status: number,
    readonly headers: ResponseHeaders,
    private readonly name: string,
    private readonly body: Readable,
    private readonly scope: CallScope,
    private readonly onBodyEnd: (outcome: "complete" | "broken") => void,
  ) {
    // The body's error is stored and thrown to its reader; this listener only keeps an error on a
    // body nobody reads yet (the caller cancelled first) from being an uncaught 'error' event.
    body.on("error", () => {});
  }

  /** The whole body as text (UTF-8); throws when it exceeds MAX_BODY_BYTES. */
  async text(): Promise<string> {
    this.claim();
    try {
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of this.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) throw new InferdError("upstream", `${this.name}: response body larger than ${MAX_BODY_BYTES} bytes`, { status: 502, retryable: false, code: "upstream_bad_response" });
        parts.push(chunk);
      }
      this.onBodyEnd("complete");
      return Buffer.concat(parts).toString("utf8");
    } catch (e) {
      throw this.failed(e);
    } finally {
      this.finish();
    }
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch {
      // The parser's message quotes the body, which is no client's business: the kind of failure is enough.
      throw new InferdError("upstream", `${this.name}: response body is not valid JSON`, { status: 502, retryable: false, code: "upstream_bad_response" });
    }
  }

  /**
   * The body's server-sent events. Pass `isFinal` (OpenAI: `e => e.data === "[DONE]"`, Anthropic:
   * `e => e.event === "message_stop"`) so that a stream cut between two whole events still throws.
   * Breaking out of the loop closes the body.
   */
  async *sse(options: Omit<SseOptions, "name"> = {}): AsyncGenerator<SseEvent> {
    this.claim();
    let ended = false;
    try {
      yield* parseSse(this.body as AsyncIterable<Uint8Array>, { ...options, name: this.name });
      ended = true;
    } catch (e) {
      throw this.failed(e);
    } finally {
      // Not reached when the consumer breaks off early: a stream left unread says nothing of the upstream.
      if (ended) this.onBodyEnd("complete");
      this.finish();
    }
  }

  /** Drops the body unread (closing its connection): call it when neither json() nor sse() will be. */
  discard(): void {
    if (!this.claimed) {
      this.claimed = true;
      this.finish();
    }
  }

  private claim(): void {
    if (this.claimed) throw new Error(`${this.name}: the response body was already read or discarded`);
    this.claimed = true;
  }

  private failed(e: unknown): InferdError {
    const err = this.scope.fail(e, "body");
    if (err.kind === "upstream" && err.details.retryable === true) this.onBodyEnd("broken");
    return err;
  }

  private finish(): void {
    // A body left before its end cannot share its connection again: destroying it closes the socket.
    if (!this.body.readableEnded) this.body.destroy();
    this.scope.dispose();
  }
}
