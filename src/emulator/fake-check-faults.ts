import sharp from 'sharp';
import { z } from 'zod';
import { FOREIGN_LANGUAGES, foreignProse, type ForeignLanguage } from './fake-foreign-text.js';
import type { ImageFormat } from './fake-image.js';
import { seededRandom, type Rng } from './seeded-random.js';
import { countTextTokens } from './token-count.js';

/**
 * Faults that fail a job's quality checks on purpose (issue 28), set per model in the emulator's
 * config under `models.MODEL.check_faults` and `models.MODEL.judge`, so that tests and rehearsals of
 * `checks:` and `on_fail:` are exact: a share of replies too short, holding a phrase, or in another
 * language; a share of images blank or of the wrong size; judge replies that score low when the
 * judged content holds a marker term.
 *
 * Each fault is drawn per ask of a prompt from (seed, model, prompt, n), like empty_rate: the n-th
 * ask is a new, independent draw, so a regenerated reply is faulty again only with the fault's share.
 * The text faults share one draw (at most one per reply), so their shares add up: too_short 0.1 and a
 * phrase at 0.1 make 20% of first drafts faulty, and so do the image faults.
 */

const rateHint = (issue: { input?: unknown }): string => `expected a share between 0 and 1 (0.05 = 5% of calls), got ${JSON.stringify(issue.input)}`;
const share = z.number({ error: rateHint }).min(0, { error: rateHint }).max(1, { error: rateHint });
const pixels = z.number().int().positive();

const phraseFault = z.strictObject({ rate: share, text: z.string().min(1) });

export const checkFaults = z
  .strictObject({
    /** Replies cut to their first `words` words (a 12-word "paragraph"). */
    too_short: z.strictObject({ rate: share, words: z.number().int().positive().default(8) }).optional(),
    /** Replies that start with `text` ("As an AI language model"), each phrase at its own share. */
    phrases: z.array(phraseFault).min(1).optional(),
    /** Replies written in another language: real sentences a language detector recognises. */
    language: z.strictObject({ rate: share, language: z.enum(FOREIGN_LANGUAGES as [ForeignLanguage, ...ForeignLanguage[]]).default('de') }).optional(),
    /** Images of one flat colour with a faint gradient (what not_blank catches). */
    blank_image: z.strictObject({ rate: share }).optional(),
    /** Images of another size than asked (half the width and height unless given). */
    wrong_size_image: z.strictObject({ rate: share, width: pixels.optional(), height: pixels.optional() }).optional(),
  })
  .superRefine((faults, ctx) => {
    // A share out of range is reported at its own key; the sum is only worth saying about valid shares.
    const rates = [faults.too_short, faults.language, faults.blank_image, faults.wrong_size_image, ...(faults.phrases ?? [])].map((f) => f?.rate ?? 0);
    if (rates.some((r) => typeof r !== 'number' || r < 0 || r > 1)) return;
    const text = (faults.too_short?.rate ?? 0) + (faults.language?.rate ?? 0) + (faults.phrases ?? []).reduce((sum, p) => sum + p.rate, 0);
    if (text > 1 + 1e-9) ctx.addIssue({ code: 'custom', message: 'the shares of too_short, phrases and language add up to more than 1' });
    if ((faults.blank_image?.rate ?? 0) + (faults.wrong_size_image?.rate ?? 0) > 1 + 1e-9)
      ctx.addIssue({ code: 'custom', message: 'the shares of blank_image and wrong_size_image add up to more than 1' });
  });

export type CheckFaults = z.output<typeof checkFaults>;

/** Judge replies: `low` when the judged content holds a marker term (case-insensitive), `high` otherwise. */
export const judgeBehaviour = z
  .strictObject({
    marker: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a term ("[weak]") or a list of terms' }),
    low: z.number().default(1),
    high: z.number().default(5),
  })
  .refine((judge) => judge.low < judge.high, { message: 'judge.low must be below judge.high', path: ['low'] });

export type JudgeBehaviour = z.output<typeof judgeBehaviour>;

export type TextFault = { kind: 'too_short'; words: number } | { kind: 'phrase'; text: string } | { kind: 'language'; language: ForeignLanguage };

/** The text fault drawn for this ask of this prompt, or undefined for a sound reply. */
export function drawTextFault(faults: CheckFaults | undefined, seed: number, model: string, promptKey: string, asked: number): TextFault | undefined {
  if (!faults) return undefined;
  const options: [number, TextFault][] = [];
  if (faults.too_short) options.push([faults.too_short.rate, { kind: 'too_short', words: faults.too_short.words }]);
  for (const phrase of faults.phrases ?? []) options.push([phrase.rate, { kind: 'phrase', text: phrase.text }]);
  if (faults.language) options.push([faults.language.rate, { kind: 'language', language: faults.language.language }]);
  if (options.every(([rate]) => rate === 0)) return undefined;
  let at = seededRandom(seed, model, 'check-fault', promptKey, asked).next();
  for (const [rate, fault] of options) {
    if (at < rate) return fault;
    at -= rate;
  }
  return undefined;
}

/** `text` as the fault leaves it. */
export function applyTextFault(fault: TextFault, text: string, rng: Rng): string {
  switch (fault.kind) {
    case 'too_short': {
      const words = text.split(/\s+/).filter((word) => word !== '');
      if (words.length <= fault.words) return text;
      return `${words
        .slice(0, fault.words)
        .join(' ')
        .replace(/[,.;:]$/, '')}.`;
    }
    case 'phrase':
      // "As an AI language model, the lamp…": after a phrase ending in a comma the reply goes on in lower case.
      if (text === '') return fault.text;
      return `${fault.text} ${/[,;:]$/.test(fault.text) ? text.charAt(0).toLowerCase() + text.slice(1) : text}`;
    case 'language':
      return foreignProse(rng, fault.language, countTextTokens(text));
  }
}

/**
 * A JSON reply's value with the fault applied to its longest string (the prose a `field:` check
 * reads, such as a description), found anywhere in the value.
 */
export function applyJsonFault(fault: TextFault, value: unknown, rng: Rng): unknown {
  let longest: { holder: Record<string, unknown> | unknown[]; key: string | number; length: number } | undefined;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        if (typeof item === 'string' && item.length > (longest?.length ?? -1)) longest = { holder: node, key: i, length: item.length };
        else visit(item);
      });
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
        if (typeof item === 'string' && item.length > (longest?.length ?? -1)) longest = { holder: node as Record<string, unknown>, key, length: item.length };
        else visit(item);
      }
    }
  };
  if (typeof value === 'string') return applyTextFault(fault, value, rng);
  visit(value);
  if (!longest) return value;
  const { holder, key } = longest;
  if (Array.isArray(holder)) holder[key as number] = applyTextFault(fault, String(holder[key as number]), rng);
  else holder[key as string] = applyTextFault(fault, String(holder[key as string]), rng);
  return value;
}

export type ImageFault = { kind: 'blank' } | { kind: 'wrong_size'; width?: number; height?: number };

/** The image fault drawn for this ask (and image, for Imagen's several samples), or undefined. */
export function drawImageFault(
  faults: CheckFaults | undefined,
  seed: number,
  model: string,
  promptKey: string,
  asked: number,
  index = 0,
): ImageFault | undefined {
  if (!faults) return undefined;
  const blank = faults.blank_image?.rate ?? 0;
  const wrong = faults.wrong_size_image?.rate ?? 0;
  if (blank + wrong === 0) return undefined;
  const at = seededRandom(seed, model, 'image-fault', promptKey, asked, index).next();
  if (at < blank) return { kind: 'blank' };
  if (at < blank + wrong) {
    const size = faults.wrong_size_image;
    return { kind: 'wrong_size', ...(size?.width === undefined ? {} : { width: size.width }), ...(size?.height === undefined ? {} : { height: size.height }) };
  }
  return undefined;
}

/** The size a wrong-size fault renders instead of `width` x `height`: half each side unless configured. */
export function wrongSize(fault: { width?: number; height?: number }, width: number, height: number): [number, number] {
  return [fault.width ?? Math.max(1, Math.round(width / 2)), fault.height ?? Math.max(1, Math.round(height / 2))];
}

/**
 * A blank image as image models return one: a single colour with a faint vertical gradient (±3
 * levels), real PNG or JPEG data that decodes, with a per-channel standard deviation near 2.
 */
export async function renderBlankImage(rng: Rng, width: number, height: number, format: ImageFormat = 'png'): Promise<Buffer> {
  const base = [rng.int(30, 225), rng.int(30, 225), rng.int(30, 225)];
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const shade = Math.round(-3 + (6 * y) / Math.max(1, height - 1));
    const row = y * width * 3;
    pixels[row] = (base[0] ?? 0) + shade;
    pixels[row + 1] = (base[1] ?? 0) + shade;
    pixels[row + 2] = (base[2] ?? 0) + shade;
    let filled = 3;
    while (filled < width * 3) {
      const n = Math.min(filled, width * 3 - filled);
      pixels.copy(pixels, row + filled, row, row + n);
      filled += n;
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 80 }).toBuffer() : image.png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
}

/** Whether a response schema asks for a judge's verdict: an object with `score` and `reason`. */
export function isJudgeSchema(schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return false;
  const properties = (schema as Record<string, unknown>).properties;
  return properties !== null && typeof properties === 'object' && 'score' in properties && 'reason' in properties;
}

/** A judge's verdict on the judged content (the request's text): low when it holds a marker term. */
export function judgeVerdict(judge: JudgeBehaviour, judged: string): { score: number; reason: string } {
  const markers = typeof judge.marker === 'string' ? [judge.marker] : judge.marker;
  const lower = judged.toLowerCase();
  const found = markers.find((marker) => lower.includes(marker.toLowerCase()));
  return found === undefined
    ? { score: judge.high, reason: 'Meets the rubric: accurate, specific and well written.' }
    : // The term itself is left out: a `feedback:` prompt carrying it could put it before the next judge again.
      { score: judge.low, reason: 'Does not meet the rubric: the text holds one of the emulated judge’s marker terms.' };
}
