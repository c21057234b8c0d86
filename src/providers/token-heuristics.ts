/**
 * Local token counts, without a tokenizer or a call: a bound for a request's worst case (an embedding
 * request is split by it) and a typical figure for estimates. src/estimate's token counter uses them
 * when nothing better is at hand.
 */

/**
 * Pieces of text as tokenizers see them: a CJK character, a run of Latin letters (with their
 * combining marks), any other letter or mark, a digit, a run of whitespace, anything else.
 */
const CJK = String.raw`\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|\p{Script=Hangul}`;
const LATIN_LETTER_OR_MARK = String.raw`(?!${CJK})(?:(?=\p{L})\p{Script=Latin}|\p{M})`;
const PIECE = new RegExp(String.raw`${CJK}|(?<latin>(?:${LATIN_LETTER_OR_MARK})+)|(?<letter>\p{L}|\p{N})|(?<space>\s+)|.`, 'gsu');

interface Ratios {
  /** Latin letters per token (a run costs at least one). */
  latin: number;
  /** Letters of other alphabets (Cyrillic, Greek, Arabic, Thai...) per token. */
  otherLetters: number;
  /** Characters beyond the 16-bit plane (emoji, rare ideographs): tokens each. */
  astral: (char: string) => number;
}

function countPieces(text: string, ratios: Ratios): number {
  let tokens = 0;
  let otherLetters = 0;
  for (const match of text.matchAll(PIECE)) {
    const piece = match[0];
    const groups = match.groups ?? {};
    const astral = (piece.codePointAt(0) ?? 0) > 0xffff && piece.length === 2;
    if (groups.latin !== undefined) tokens += Math.ceil([...piece].length / ratios.latin);
    else if (groups.space !== undefined) {
      // A line break or tab is a token; one space belongs to the next word; longer runs cost some.
      const breaks = piece.replace(/[^\n\t]/g, '').length;
      const others = piece.length - breaks;
      tokens += breaks + Math.ceil(Math.max(0, others - 1) / 4);
    } else if (astral) tokens += ratios.astral(piece);
    else if (groups.letter !== undefined && /\p{L}/u.test(piece)) otherLetters += 1;
    else tokens += 1;
  }
  return tokens + Math.ceil(otherLetters / ratios.otherLetters);
}

/** UTF-8 bytes: what a byte-fallback tokenizer spends, at most, on a character it has no piece for. */
const utf8Bytes = (char: string): number => Buffer.byteLength(char, 'utf8');

/**
 * Prompt tokens that never fall short of what Gemini counts, for the budget's worst case before a
 * call: a CJK character, any other non-Latin letter, digit or symbol counts one token each (Gemini
 * counts about one per CJK character; a 4-characters-per-token guess under-counted a CJK prompt
 * four times), an emoji or other character beyond the 16-bit plane its UTF-8 bytes (the byte
 * fallback), Latin text one token per started 3 letters of each word (English runs near 4), a line
 * break one. Never below the emulator's count (src/emulator/token-count.ts) for any text.
 */
export function heuristicTokens(text: string): number {
  return Math.max(1, countPieces(text, { latin: 3, otherLetters: 1, astral: utf8Bytes }));
}

/**
 * About what Gemini counts, for estimates (not a bound): 4 Latin letters per token, 3 letters of
 * other alphabets, one per CJK character, digit, symbol or emoji.
 */
export function typicalTokens(text: string): number {
  return Math.max(1, countPieces(text, { latin: 4, otherLetters: 3, astral: () => 1 }));
}
