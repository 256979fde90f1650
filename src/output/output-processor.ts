import type { Sample, TokenLogprob } from "../backend/backend.js";
import { IncrementalDetokenizer } from "./detokenizer.js";
import { StopMatcher } from "./stop-matcher.js";

/** A token's logprob with its text, as APIs report it. */
export interface TokenLogprobInfo {
  token: number;
  text: string;
  logprob: number;
  top: (TokenLogprob & { text: string })[];
}

/** What one token turned into. */
export interface ProcessedToken {
  /** Text released by this token (may be "" while a character or a possible stop string is incomplete). */
  text: string;
  /** True when a stop string matched: generation must end; the stop string is not in `text`. */
  stopped: boolean;
  logprob: TokenLogprobInfo | undefined;
}

/**
 * Per-request output processing: token ids in, text out. Detokenizes incrementally (UTF-8
 * safe), finds stop strings across token boundaries and attaches logprob texts. Lives outside
 * the engine loop so the loop only moves token ids.
 */
export class OutputProcessor {
  private readonly detok: IncrementalDetokenizer;
  private readonly stops: StopMatcher;
  private stopped = false;
  /** The stop string that ended generation, if one did. */
  matchedStop: string | undefined;

  constructor(
    private readonly detokenize: (tokens: readonly number[]) => string,
    stop: readonly string[],
    /** Last prompt tokens, BOS excluded: the text generation continues from. */
    context: readonly number[] = [],
  ) {
    this.detok = new IncrementalDetokenizer(detokenize, context);
    this.stops = new StopMatcher(stop);
  }

  push(token: number, sample: Sample | undefined): ProcessedToken {
    const logprob = sample?.logprob === undefined ? undefined : this.logprobInfo(token, sample);
    if (this.stopped) return { text: "", stopped: true, logprob };
    const r = this.stops.push(this.detok.push(token));
    if (r.kind === "stop") {
      this.stopped = true;
      this.matchedStop = r.stop;
    }
    return { text: r.text, stopped: this.stopped, logprob };
  }

  /** Text held back at the end (incomplete character, possible stop-string start). */
  flush(): string {
    if (this.stopped) return "";
    const r = this.stops.push(this.detok.flush());
    if (r.kind === "stop") {
      this.stopped = true;
      this.matchedStop = r.stop;
      return r.text;
    }
    return r.text + this.stops.flush();
  }

  private logprobInfo(token: number, sample: Sample): TokenLogprobInfo {
    const piece = (t: number) => this.detokenize([t]);
    return {
      token,
      text: piece(token),
      logprob: sample.logprob!,
      top: (sample.top ?? []).map((t) => ({ ...t, text: piece(t.token) })),
    };
  }
}
