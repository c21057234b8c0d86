import type { Rng } from './seeded-random.js';
import { countTextTokens } from './token-count.js';

/**
 * Readable, English-looking filler for emulated replies. Words from the prompt are mixed in, so a
 * reply visibly belongs to its prompt; the length is measured with the same token heuristic as
 * usageMetadata, so the text and its token count agree.
 */
const COMMON = (
  'the of and to in is that for it as with on be by this are from at or an was which can its more ' +
  'their they will has have into also these other than most one about when some new time many such ' +
  'only over make like well way use used work first would each both through while where between ' +
  'because those under every good simple clear small large early often after before during'
).split(' ');

const CONTENT = (
  'system design process result people team project method approach question answer example ' +
  'practice model value detail feature change problem solution reason context language source ' +
  'quality structure pattern decision idea image colour light surface balance moment story ' +
  'journey morning evening garden window city river market kitchen library workshop harbour ' +
  'careful bright quiet modern gentle steady warm natural practical useful reliable honest ' +
  'build create explore measure compare improve explain describe follow choose gather shape ' +
  'carefully quickly gradually clearly naturally together already perhaps usually rarely ' +
  'performance database interface framework documentation experience community landscape'
).split(' ');

/** Common words of one token (at most 6 letters), for a reply too short for a longer first word. */
const SHORT_COMMON = COMMON.filter((word) => word.length <= 6);

/** Words of the prompt worth echoing: alphabetic, not too short or long, at most 40 distinct. */
function promptWords(prompt: string): string[] {
  const words = new Set<string>();
  for (const match of prompt.matchAll(/\p{L}{4,14}/gu)) {
    // Keep the prompt's casing for names (PostgreSQL), lowercase ordinary capitalised words.
    const word = match[0];
    words.add(/^\p{Lu}\p{Ll}+$/u.test(word) ? word.toLowerCase() : word);
    if (words.size >= 40) break;
  }
  return [...words];
}

function nextWord(rng: Rng, topical: readonly string[]): string {
  const roll = rng.next();
  // A prompt of few words is echoed rarely, so its words do not repeat in every sentence.
  if (roll < Math.min(0.18, 0.03 * topical.length)) return rng.pick(topical);
  return roll < 0.55 ? rng.pick(COMMON) : rng.pick(CONTENT);
}

/** Token costs of the words prose is made of (letter runs, so a word costs the same wherever it stands). */
const WORD_TOKENS = new Map<string, number>();

function wordTokens(word: string): number {
  let cost = WORD_TOKENS.get(word);
  if (cost === undefined) {
    cost = countTextTokens(word);
    // Prompt words come and go; the vocabulary's own words stay cached.
    if (WORD_TOKENS.size < 20_000) WORD_TOKENS.set(word, cost);
  }
  return cost;
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * Prose of about `targetTokens` tokens (never more), in sentences and paragraphs. Never empty when
 * `targetTokens` is at least 1: a first word too long for the budget gives way to a one-token word.
 * Costs are added up piece by piece as countTextTokens counts them (a paragraph break 1, a space 0,
 * a word its letter runs, each comma or full stop 1), so the reply's usage agrees with its text.
 */
export function fakeProse(rng: Rng, targetTokens: number, prompt = ''): string {
  if (targetTokens <= 0) return '';
  const topical = promptWords(prompt);
  let text = '';
  let tokens = 0;
  let sentenceLeft = 0;
  let sentencesInParagraph = 0;
  while (tokens < targetTokens) {
    let separator = ' ';
    let word: string;
    let punctuation = '';
    if (sentenceLeft === 0) {
      sentenceLeft = rng.int(6, 18);
      word = capitalise(nextWord(rng, topical));
      const paragraphBreak = sentencesInParagraph >= rng.int(3, 6);
      if (paragraphBreak) sentencesInParagraph = 0;
      separator = text === '' ? '' : paragraphBreak ? '\n\n' : ' ';
    } else {
      word = nextWord(rng, topical);
      if (sentenceLeft > 2 && rng.chance(0.08)) punctuation = ',';
    }
    sentenceLeft--;
    if (sentenceLeft === 0) {
      punctuation += '.';
      sentencesInParagraph++;
    }
    let cost = (separator === '\n\n' ? 1 : 0) + wordTokens(word) + punctuation.length;
    if (text === '' && cost > targetTokens) {
      word = capitalise(rng.pick(SHORT_COMMON));
      punctuation = '';
      cost = wordTokens(word);
    }
    if (tokens + cost > targetTokens) break;
    text += separator + word + punctuation;
    tokens += cost;
  }
  if (text !== '' && !/[.!?]$/.test(text) && tokens < targetTokens) text += '.';
  return text;
}

/** A short phrase of `words` words, for titles, names and labels. */
export function fakePhrase(rng: Rng, words: number, prompt = ''): string {
  const topical = promptWords(prompt);
  const parts: string[] = [];
  for (let i = 0; i < words; i++) parts.push(rng.chance(0.35) ? rng.pick(CONTENT) : nextWord(rng, topical));
  const phrase = parts.join(' ');
  return phrase.charAt(0).toUpperCase() + phrase.slice(1);
}
