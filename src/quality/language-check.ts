import type { CheckVerdict } from './check-verdict.js';

/**
 * The `language:` check (issue 28): which language a text is written in, by eld (Efficient Language
 * Detector, nitotm/efficient-language-detector-js, Apache-2.0), its `extrasmall` database.
 *
 * Why eld: measured on product descriptions like the ones catalogue jobs write (32 texts in 8
 * languages, every 6-, 10-, 15- and 20-word window of them), eld named the language of 100% of the
 * windows from 10 words on (99.1% at 6 words); franc-min 95.1% at 10 words and 99.5% at 20, and it
 * knows no Danish (it says Swedish); franc (all 187 languages) says Galician for Spanish and Scots
 * for English on 12-word texts; tinyld 97% at 8 words. eld answers in ISO 639-1 codes (what
 * `language: fr` is written in), knows 60 languages (every EU language but Irish and Maltese), runs
 * in about 0.1 ms per text, has no dependencies and is maintained (v2, 2025). The `small` database
 * was no more accurate at these lengths and takes twice the memory.
 *
 * Its database is about 1 MB of JavaScript that takes a few hundred ms and some 85 MB to load (370-540
 * ms measured on a busy 2-core machine), so it is loaded only for a job with a language check:
 * `await loadLanguageDetector()` once, then the checks are synchronous. eld is ESM-only; the CLI
 * bundle inlines it behind this dynamic import, unevaluated until called (the bundle grows by 1.3 MB;
 * `genbatch --version` from the code cache took no measurably longer).
 */

interface Detection {
  language: string;
  isReliable(): boolean;
}

interface Detector {
  detect(text: string): Detection;
}

let detector: Detector | undefined;
let loading: Promise<void> | undefined;

/** Loads the detector's database (once; later calls return at once). */
export function loadLanguageDetector(): Promise<void> {
  loading ??= import('eld/extrasmall').then(
    ({ eld }) => {
      const own = eld.newInstance();
      // Drops URLs, e-mail addresses and codes such as SKUs, which are in no language.
      own.enableTextCleanup(true);
      detector = own;
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

function loaded(): Detector {
  if (!detector) throw new Error('The language detector is not loaded: await loadLanguageDetector() before checking a language.');
  return detector;
}

/** Fewer words than this are not enough to tell a language by (eld: 99% right at 6 words, 100% from 10). */
export const MIN_LANGUAGE_WORDS = 6;

function wordCount(text: string): number {
  return (text.match(/\p{L}+/gu) ?? []).length;
}

/** The ISO 639-1 code of the language `text` is written in, or undefined when it is too short or unclear to tell. */
export function detectLanguage(text: string): string | undefined {
  if (wordCount(text) < MIN_LANGUAGE_WORDS) return undefined;
  const found = loaded().detect(text);
  return found.language !== '' && found.isReliable() ? found.language : undefined;
}

/** `fr-FR`, `FR`, `pt_BR` → `fr`, `fr`, `pt`; Norwegian Bokmål and Nynorsk are `no` to eld. */
function baseCode(code: string): string {
  const base = code.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return base === 'nb' || base === 'nn' ? 'no' : base;
}

const NAMES = new Intl.DisplayNames(['en'], { type: 'language' });

function named(code: string): string {
  try {
    const name = NAMES.of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

/** Whether `text` is written in `expected` (ISO 639-1, e.g. 'fr'); a text too short or unclear to tell passes, saying so. */
export function checkLanguage(text: string, expected: string): CheckVerdict {
  const words = wordCount(text);
  if (words < MIN_LANGUAGE_WORDS) {
    return { check: 'language', passed: true, reason: `too short to tell the language (${words} words, at least ${MIN_LANGUAGE_WORDS} needed)` };
  }
  const found = detectLanguage(text);
  if (found === undefined) return { check: 'language', passed: true, reason: 'the language could not be told with confidence' };
  const want = baseCode(expected);
  return found === want ? { check: 'language', passed: true } : { check: 'language', passed: false, reason: `written in ${named(found)}, not ${named(want)}` };
}
