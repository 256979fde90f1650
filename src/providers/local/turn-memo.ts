/**
 * Conversation memory for tokenization: the tokens the model really saw and generated, keyed by
 * the text a chat client will send back.
 *
 * Why: a client resends the assistant's answer as text, and re-tokenizing that text often gives
 * other tokens than the ones the model generated (a BPE merges differently, a sampled token was
 * not the canonical split). The prefix cache holds the generated tokens, so it would match only
 * up to the start of the previous answer and recompute the answer and everything after it. With
 * the memo, turn N's prompt is turn N-1's exact tokens (prompt and answer) followed by the
 * tokenized new part, and its cache hit covers the whole history.
 */
export interface MemoHit {
  /** The remembered text, a prefix of the looked-up text. */
  text: string;
  tokens: readonly number[];
}

export class TurnMemo {
  /** text -> tokens; Map order is recency (oldest first). */
  private readonly entries = new Map<string, readonly number[]>();
  private chars = 0;

  /**
   * @param maxEntries how many conversations' last turns to remember
   * @param maxChars bound on remembered text, so memory stays small beside the KV it points at
   */
  constructor(
    private readonly maxEntries = 1024,
    private readonly maxChars = 32 << 20,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The longest remembered text that `text` starts with (and marks it recently used). */
  longestPrefix(text: string): MemoHit | undefined {
    let best: string | undefined;
    for (const key of this.entries.keys()) {
      if (key.length <= text.length && (best === undefined || key.length > best.length) && text.startsWith(key)) best = key;
    }
    if (best === undefined) return undefined;
    const tokens = this.entries.get(best)!;
    this.entries.delete(best);
    this.entries.set(best, tokens);
    return { text: best, tokens };
  }

  /** Remembers that `text` was `tokens` for the model (a prompt and what was generated after it). */
  remember(text: string, tokens: readonly number[]): void {
    if (text.length === 0 || text.length > this.maxChars) return;
    const had = this.entries.get(text);
    if (had !== undefined) {
      this.entries.delete(text);
      this.chars -= text.length;
    }
    this.entries.set(text, tokens);
    this.chars += text.length;
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(key);
      this.chars -= key.length;
    }
  }
}

/**
 * Tokens of `text` that reuse a remembered prefix's tokens when that is safe: the tokenizer's
 * split of the rest must be the same one it gives inside the whole text (true after a special
 * token such as `<|im_end|>`; not always after plain text, where SentencePiece adds a leading
 * space), else the plain tokenization is returned.
 */
export function memoTokenize(
  memo: TurnMemo | undefined,
  text: string,
  tokenize: (text: string, addBos: boolean) => number[],
): { tokens: number[]; remembered: number } {
  const whole = tokenize(text, true);
  const hit = memo?.longestPrefix(text);
  if (hit === undefined) return { tokens: whole, remembered: 0 };
  const rest = text.length > hit.text.length ? tokenize(text.slice(hit.text.length), false) : [];
  if (rest.length > whole.length || !rest.every((t, i) => whole[whole.length - rest.length + i] === t)) return { tokens: whole, remembered: 0 };
  return { tokens: [...hit.tokens, ...rest], remembered: hit.tokens.length };
}
