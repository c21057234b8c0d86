import type { CheckVerdict } from './check-verdict.js';

/**
 * The text checks of issue 28, pure: each takes the text (the reply, or one JSON field) and its
 * settings and says whether it passes and, when not, why, in words a reviewer reads and the next
 * attempt's prompt can carry (`feedback: true`). Names and meanings follow promptfoo's assertions
 * where it has one (`contains`, `icontains`, `not-contains`...), spelled with `_` as job keys are.
 */

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Words as a reader counts them: runs of letters or digits (hyphenated and apostrophed words count once). */
export function countWords(text: string): number {
  return text.match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu)?.length ?? 0;
}

/** Characters as a reader counts them (code points, so an emoji or an accented letter is one). */
export function countChars(text: string): number {
  return [...text.trim()].length;
}

function bounded(check: 'words' | 'chars', count: number, unit: string, bounds: { min?: number; max?: number }): CheckVerdict {
  if (bounds.min !== undefined && count < bounds.min) return { check, passed: false, reason: `${plural(count, unit)}, at least ${bounds.min}` };
  if (bounds.max !== undefined && count > bounds.max) return { check, passed: false, reason: `${plural(count, unit)}, at most ${bounds.max}` };
  return { check, passed: true };
}

export function checkWords(text: string, bounds: { min?: number; max?: number }): CheckVerdict {
  return bounded('words', countWords(text), 'word', bounds);
}

export function checkChars(text: string, bounds: { min?: number; max?: number }): CheckVerdict {
  return bounded('chars', countChars(text), 'character', bounds);
}

export type ContainsCheck = 'contains' | 'not_contains' | 'icontains' | 'not_icontains';

/** `contains`: every phrase is there; `not_contains`: none is; the `i` forms ignore case. */
export function checkContains(text: string, check: ContainsCheck, phrases: readonly string[]): CheckVerdict {
  const ignoreCase = check === 'icontains' || check === 'not_icontains';
  const negate = check.startsWith('not_');
  const haystack = ignoreCase ? text.toLocaleLowerCase() : text;
  const found = (phrase: string): boolean => haystack.includes(ignoreCase ? phrase.toLocaleLowerCase() : phrase);
  if (negate) {
    const present = phrases.filter(found);
    return present.length === 0 ? { check, passed: true } : { check, passed: false, reason: `contains ${present.map((p) => JSON.stringify(p)).join(', ')}` };
  }
  const missing = phrases.filter((p) => !found(p));
  return missing.length === 0
    ? { check, passed: true }
    : { check, passed: false, reason: `does not contain ${missing.map((p) => JSON.stringify(p)).join(', ')}` };
}

/** `matches`: the regular expression finds a match; `not_matches`: it finds none (the match is quoted). */
export function checkMatches(text: string, check: 'matches' | 'not_matches', pattern: RegExp, source: string): CheckVerdict {
  // A `g` or `y` flag keeps lastIndex between calls: a fresh copy so one output does not move the next.
  const match = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).exec(text);
  if (check === 'matches') return match ? { check, passed: true } : { check, passed: false, reason: `does not match ${source}` };
  return match ? { check, passed: false, reason: `matches ${source} at ${JSON.stringify(match[0].slice(0, 60))}` } : { check, passed: true };
}

/** `not_truncated`: the model stopped on its own, not at max_output_tokens (finish reason MAX_TOKENS). */
export function checkNotTruncated(reply: { finishReason?: string; truncated?: boolean }): CheckVerdict {
  const cut = reply.truncated === true || reply.finishReason === 'MAX_TOKENS';
  return cut
    ? { check: 'not_truncated', passed: false, reason: 'the reply was cut at max_output_tokens (finish reason MAX_TOKENS)' }
    : { check: 'not_truncated', passed: true };
}
