/**
 * Streams text out of tokens without splitting UTF-8 characters or mangling spaces.
 *
 * Tokens can end mid-character (byte-fallback tokens, BPE pieces of an emoji), and some
 * tokenizers render a token differently at the start of a text (SentencePiece's leading
 * space). So each step decodes a small window twice, from the same start token: the text
 * already emitted and the text with the new tokens; the difference is new text, held back
 * while it ends in U+FFFD (an incomplete character). This is the scheme of Hugging Face TGI and
 * vLLM's incremental detokenizer.
 */
export class IncrementalDetokenizer {
  private readonly tokens: number[] = [];
  /** Start of the decode window. */
  private prefixOffset = 0;
  /** End of the tokens whose text has been emitted. */
  private readOffset = 0;

  /**
   * @param context the last few prompt tokens (without BOS), so the first generated token is
   *   rendered as a continuation (" a" after "Once upon") rather than as the start of a text.
   */
  constructor(
    private readonly detokenize: (tokens: readonly number[]) => string,
    context: readonly number[] = [],
  ) {
    this.tokens.push(...context);
    this.readOffset = context.length;
  }

  /** Adds a token; returns the text it completes (often "", e.g. mid-character). */
  push(token: number): string {
    this.tokens.push(token);
    const prefixText = this.detokenize(this.tokens.slice(this.prefixOffset, this.readOffset));
    const newText = this.detokenize(this.tokens.slice(this.prefixOffset));
    if (newText.length > prefixText.length && !newText.endsWith("\uFFFD")) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.tokens.length;
      return newText.slice(prefixText.length);
    }
    return "";
  }

  /** Text still held back (an incomplete character at the very end), released as is. */
  flush(): string {
    if (this.readOffset === this.tokens.length) return "";
    const prefixText = this.detokenize(this.tokens.slice(this.prefixOffset, this.readOffset));
    const newText = this.detokenize(this.tokens.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.tokens.length;
    return newText.slice(prefixText.length);
  }
}
