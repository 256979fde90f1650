/**
 * Server-sent events from an upstream's streaming body, parsed by eventsource-parser into
 * `{event?, data}` records. The point of this module beyond the parser is that a stream never
 * ends silently when it ends wrong: a body that stops in the middle of an event (the upstream
 * died, a proxy cut it), a line that is no SSE field (an HTML or JSON error page in a 200), or a
 * stream that ends before its final event (OpenAI's `data: [DONE]`, Anthropic's `message_stop`)
 * all throw.
 */
import { createParser, type ErrorType, type ParseError } from "eventsource-parser";
import { InferdError } from "../../util/errors.js";

/** One server-sent event: its type (absent for the default "message") and its data lines joined by "\n". */
export interface SseEvent {
  event?: string;
  data: string;
}

/** Options of parseSse. */
export interface SseOptions {
  /** The upstream's name, for error messages. */
  name: string;
  /**
   * Recognises the stream's final event; when given, a stream that ends without one is an error.
   * The final event is yielded, and the rest of the body is read (so the connection can be reused)
   * but not parsed, for at most half a second.
   */
  isFinal?: (event: SseEvent) => boolean;
  /** Largest event or line, in characters (default 8 MiB): bounds what a broken upstream can make us buffer. */
  maxEventChars?: number;
}

const DEFAULT_MAX_EVENT_CHARS = 8 * 1024 * 1024;

/** Yields the events of `chunks` (a body's bytes), throwing InferdError("upstream") on a malformed or truncated stream. */
export async function* parseSse(chunks: AsyncIterable<Uint8Array | string>, options: SseOptions): AsyncGenerator<SseEvent> {
  const { name, isFinal } = options;
  const pending: SseEvent[] = [];
  // The first parse error, and how many of the events parsed from the same feed came before it.
  let parseError: { error: ParseError; after: number } | undefined;
  const parser = createParser({
    onEvent: (m) => pending.push(m.event === undefined ? { data: m.data } : { event: m.event, data: m.data }),
    onError: (e) => {
      switch (e.type) {
        case "invalid-retry":
          return; // a reconnection hint for browsers' EventSource: we never reconnect a request
        case "unknown-field":
        case "max-buffer-size-exceeded":
          parseError ??= { error: e, after: pending.length };
          return;
      }
    },
    maxBufferSize: options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS,
  });
  const decoder = new TextDecoder();
  let lastChar = "";
  let sawFinal = false;
  let closeSource = true;

  /** The events `text` completes; after a parse error, those before it and then the error. */
  async function* feed(text: string): AsyncGenerator<SseEvent> {
    if (text === "") return;
    lastChar = text[text.length - 1] ?? lastChar;
    parser.feed(text);
    const events = pending.splice(0);
    if (parseError === undefined) return yield* events;
    yield* events.slice(0, parseError.after);
    throw malformed(name, parseError.error);
  }

  const iterator = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      const text = typeof next.value === "string" ? next.value : decoder.decode(next.value, { stream: true });
      for await (const event of feed(text)) {
        yield event;
        if (isFinal?.(event) === true) {
          sawFinal = true;
          break;
        }
      }
      if (sawFinal) break;
    }
    if (sawFinal) {
      // The source's async iterator queues return() behind a pending next(): a tail that does not
      // end is left to the caller to close (UpstreamResponse destroys an unfinished body).
      if ((await drain(iterator)) === "slow") closeSource = false;
      return;
    }
    yield* feed(decoder.decode());
    // A complete stream ends at an event boundary: a partial last line, or data lines the blank line never dispatched, mean it was cut.
    if (lastChar !== "" && lastChar !== "\n" && lastChar !== "\r") throw truncated(name, "in the middle of a line");
    parser.feed("\n");
    if (pending.length > 0) throw truncated(name, "in the middle of an event");
    if (isFinal !== undefined) throw truncated(name, "before its final event");
  } finally {
    // Stopping early (the consumer broke off, or an error above) hands the body back so it is closed.
    if (closeSource) await iterator.return?.();
  }
}

/** How long the body may take to end after the final event (its chunked terminator follows at once in practice). */
const DRAIN_GRACE_MS = 500;

/**
 * Reads what follows the final event, unparsed, to the body's end, so the connection goes back to
 * the pool. The answer is complete by then: a tail that breaks or does not end within the grace
 * only costs that connection, so its outcome is returned, not thrown.
 */
async function drain(iterator: AsyncIterator<unknown>): Promise<"ended" | "broken" | "slow"> {
  let timer: NodeJS.Timeout | undefined;
  const rest = (async () => {
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next());
  })().then(
    () => "ended" as const,
    () => "broken" as const,
  );
  const slow = new Promise<"slow">((resolve) => (timer = setTimeout(() => resolve("slow"), DRAIN_GRACE_MS)));
  const outcome = await Promise.race([rest, slow]);
  clearTimeout(timer);
  return outcome;
}

/** The offending line is not quoted: it is the upstream's text (it could echo what it was sent). */
function malformed(name: string, e: ParseError): InferdError {
  return new InferdError("upstream", `${name}: malformed event stream (${malformedWhy(e.type)})`, { status: 502, retryable: false, code: "upstream_bad_stream" });
}

function malformedWhy(type: ErrorType): string {
  switch (type) {
    case "unknown-field":
      return "a line that is no SSE field";
    case "max-buffer-size-exceeded":
      return "an event larger than the limit";
    case "invalid-retry":
      return "an invalid retry field";
  }
}

/** Retryable: a cut stream is a failure of the upstream or the path to it, not of the request. */
function truncated(name: string, where: string): InferdError {
  return new InferdError("upstream", `${name}: event stream ended ${where}`, { status: 502, retryable: true, code: "upstream_bad_stream" });
}
