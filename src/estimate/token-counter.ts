import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GoogleGenAI } from '@google/genai';

export type TokenCountMethod = 'local_tokenizer' | 'count_tokens_api' | 'heuristic';

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

export interface TokenCounter {
  method: TokenCountMethod;
  count(model: string, text: string): Promise<number>;
}

const heuristic: TokenCounter = { method: 'heuristic', count: (_model, text) => Promise.resolve(typicalTokens(text)) };

/**
 * The best token counter available without spending: the SDK's local tokenizer when its model
 * file is already cached (it would otherwise download it), else the free `countTokens` call on a
 * sample (scaled by characters for the rest), else a character heuristic (typicalTokens). The method is reported.
 */
export async function bestTokenCounter(options: { client?: GoogleGenAI; sampleModel?: string; sampleText?: string } = {}): Promise<TokenCounter> {
  const cache = join(tmpdir(), 'vertexai_tokenizer_model');
  if (existsSync(cache) && readdirSync(cache).length > 0) {
    try {
      const { LocalTokenizer } = await import('@google/genai/tokenizer');
      const tokenizers = new Map<string, InstanceType<typeof LocalTokenizer>>();
      const probe = new LocalTokenizer(options.sampleModel ?? 'gemini-2.5-flash');
      await probe.countTokens('probe');
      return {
        method: 'local_tokenizer',
        count: async (model, text) => {
          let tokenizer = tokenizers.get(model);
          if (!tokenizer) tokenizers.set(model, (tokenizer = new LocalTokenizer(model)));
          return (await tokenizer.countTokens(text)).totalTokens ?? typicalTokens(text);
        },
      };
    } catch {
      // fall through: no usable local model file
    }
  }
  if (options.client && options.sampleModel && options.sampleText) {
    try {
      const sample = await options.client.models.countTokens({ model: options.sampleModel, contents: options.sampleText });
      const tokensPerChar = (sample.totalTokens ?? 0) / Math.max(1, options.sampleText.length);
      if (tokensPerChar > 0)
        return { method: 'count_tokens_api', count: (_model, text) => Promise.resolve(Math.max(1, Math.round(text.length * tokensPerChar))) };
    } catch {
      // fall through to the heuristic
    }
  }
  return heuristic;
}
