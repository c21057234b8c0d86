/**
 * A tokenizer-like estimate of Gemini tokens, used for promptTokenCount, countTokens and reply
 * lengths so that all three agree. It is not Gemini's tokenizer (that needs a model file): words
 * cost about one token per 6 letters, digits and punctuation one each, CJK one per character (as
 * Gemini counts them, even right after a Latin word: a letter run stops at the first CJK
 * character), spaces nothing and a line break one. English prose comes out near 4 to 4.5
 * characters per token.
 */
const CJK = String.raw`\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|\p{Script=Hangul}`;
const PIECE = new RegExp(String.raw`${CJK}|(?:(?!${CJK})[\p{L}\p{M}])+|\p{N}|\s+|.`, 'gsu');

function pieceTokens(piece: string): number {
  if (/^\s/u.test(piece)) return piece.includes('\n') ? 1 : 0;
  // Letter runs: one token per started 6 letters; single characters (digits, punctuation, CJK): one.
  return 1 + Math.floor((piece.length - 1) / 6);
}

export function countTextTokens(text: string): number {
  let tokens = 0;
  for (const match of text.matchAll(PIECE)) tokens += pieceTokens(match[0]);
  return tokens;
}

/** The text's pieces in order with what each costs (their costs add up to countTextTokens). */
export function* pieceTokenRuns(text: string): Generator<[string, number]> {
  for (const match of text.matchAll(PIECE)) yield [match[0], pieceTokens(match[0])];
}

/** The longest prefix of `text` that fits in `maxTokens` tokens (how MAX_TOKENS cuts a reply). */
export function truncateToTokens(text: string, maxTokens: number): string {
  let tokens = 0;
  for (const match of text.matchAll(PIECE)) {
    const cost = pieceTokens(match[0]);
    if (tokens + cost > maxTokens) return text.slice(0, match.index).trimEnd();
    tokens += cost;
  }
  return text;
}

/** Characters Vertex bills for text embeddings: everything except whitespace. */
export function billableCharacters(text: string): number {
  let count = 0;
  for (const ch of text) if (!/\s/u.test(ch)) count++;
  return count;
}
