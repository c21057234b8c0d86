import type { CheckVerdict } from './check-verdict.js';

/*
 * MINIMAL STAND-IN written by s6-gates so the engine's checks run before the merge: s6-gatesemu
 * owns this file and its detector; its version wins at merge. Same signatures as agreed.
 */

const STOPWORDS: Record<string, string[]> = {
  en: ['the', 'and', 'is', 'of', 'to', 'in', 'it', 'with', 'for', 'this', 'that', 'are', 'on', 'you', 'a'],
  fr: ['le', 'la', 'les', 'et', 'est', 'des', 'du', 'un', 'une', 'pour', 'avec', 'dans', 'que', 'qui', 'sur'],
  de: ['der', 'die', 'das', 'und', 'ist', 'nicht', 'mit', 'ein', 'eine', 'für', 'auf', 'den', 'zu', 'von', 'sich'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'de', 'un', 'una', 'para', 'con', 'que', 'por', 'del', 'en'],
  it: ['il', 'la', 'di', 'e', 'è', 'che', 'per', 'un', 'una', 'con', 'non', 'del', 'della', 'sono', 'gli'],
  pt: ['o', 'a', 'os', 'as', 'e', 'é', 'de', 'um', 'uma', 'para', 'com', 'não', 'que', 'do', 'da'],
  nl: ['de', 'het', 'een', 'en', 'is', 'van', 'dat', 'niet', 'met', 'voor', 'op', 'zijn', 'te', 'ook', 'aan'],
};

/** The stand-in has nothing to load (s6-gatesemu's detector loads its data here, once, before checking). */
export async function loadLanguageDetector(): Promise<void> {}

/** Fewer words than this cannot be told apart. */
const MIN_WORDS = 5;

/** The ISO 639-1 code of the language the text is most likely in, or undefined when it cannot tell. */
export function detectLanguage(text: string): string | undefined {
  const words = text.toLocaleLowerCase().match(/\p{L}+/gu) ?? [];
  if (words.length < MIN_WORDS) return undefined;
  let best: string | undefined;
  let bestScore = 0;
  for (const [code, list] of Object.entries(STOPWORDS)) {
    const set = new Set(list);
    const score = words.filter((w) => set.has(w)).length;
    if (score > bestScore) [best, bestScore] = [code, score];
  }
  return best;
}

export function checkLanguage(text: string, expected: string): CheckVerdict {
  const found = detectLanguage(text);
  if (found === undefined) return { check: 'language', passed: true, reason: 'too short to tell the language' };
  return found === expected.toLowerCase()
    ? { check: 'language', passed: true }
    : { check: 'language', passed: false, reason: `written in ${found}, not ${expected}` };
}
