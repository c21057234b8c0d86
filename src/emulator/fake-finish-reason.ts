import { z } from 'zod';
import { seededRandom } from './seeded-random.js';
import { truncateToTokens, countTextTokens } from './token-count.js';

/**
 * `finish_reasons: { RECITATION: 0.05, OTHER: 0.02 }` in the emulator's config (globally or per
 * model): shares of text and JSON replies that end with another finish reason than the one the
 * reply would have had, to rehearse what genbatch does with each (docs/finish-reasons.md). Drawn
 * per ask, seeded like empty_rate, so a retry of the same prompt draws again.
 *
 * What such a reply holds follows what Vertex sends: the safety and policy reasons come without
 * content (RECITATION keeps the text up to where it was stopped, as Vertex may), MAX_TOKENS and OTHER
 * keep the first half of the text, MALFORMED_FUNCTION_CALL has no content. The tokens of what is
 * kept are billed, as on Vertex.
 */

const REASON = /^[A-Z][A-Z0-9_]*$/;

export const finishReasonRates = z.record(z.string(), z.number().min(0).max(1)).superRefine((rates, ctx) => {
  for (const reason of Object.keys(rates)) {
    if (!REASON.test(reason))
      ctx.addIssue({
        code: 'custom',
        path: [reason],
        message: 'finish reasons are written as Google names them: STOP, MAX_TOKENS, SAFETY, RECITATION, OTHER…',
      });
  }
  if (Object.values(rates).reduce((sum, rate) => sum + rate, 0) > 1)
    ctx.addIssue({ code: 'custom', message: 'the shares of finish_reasons add up to more than 1' });
});

export type FinishReasonRates = z.output<typeof finishReasonRates>;

/** Reasons whose reply keeps part of its text: the share kept. */
const KEPT_SHARE: Readonly<Record<string, number>> = { MAX_TOKENS: 0.5, OTHER: 0.5, RECITATION: 0.5 };

/** The reason drawn for this ask of this prompt, or undefined for the reply's own. */
export function drawFinishReason(rates: FinishReasonRates | undefined, seed: number, model: string, promptKey: string, asked: number): string | undefined {
  if (!rates) return undefined;
  const entries = Object.entries(rates).filter(([, rate]) => rate > 0);
  if (entries.length === 0) return undefined;
  let at = seededRandom(seed, model, 'finish-reason', promptKey, asked).next();
  for (const [reason, rate] of entries) {
    if (at < rate) return reason;
    at -= rate;
  }
  return undefined;
}

/** The reply's text and finish reason once the drawn reason applies. */
export function applyFinishReason(reason: string, text: string): { text: string; finishReason: string } {
  const share = KEPT_SHARE[reason] ?? 0;
  const kept = share > 0 ? truncateToTokens(text, Math.max(1, Math.floor(countTextTokens(text) * share))) : '';
  return { text: kept, finishReason: reason };
}
