/**
 * What a Gemini reply's finish reason means for the step (Candidate.finishReason in Google's
 * content.proto, plus the Gemini API's LANGUAGE and the SDK's newer tool-call reasons):
 * - `ok`: the model finished (STOP);
 * - `truncated`: cut at max_output_tokens (MAX_TOKENS); a retry with the same settings is cut again;
 * - `filtered`: refused by a safety or policy filter; the same request is refused again, so it is
 *   billed once and never retried, whether or not some text came back;
 * - `retry`: the model stopped for another reason (OTHER, a malformed or unexpected tool call, a
 *   reason this genbatch does not know): another attempt may finish.
 */
export type FinishVerdict = 'ok' | 'truncated' | 'filtered' | 'retry';

/** Safety and policy reasons: the step becomes `filtered`. */
export const FILTERED_FINISH_REASONS: ReadonlySet<string> = new Set([
  'SAFETY',
  'RECITATION',
  'LANGUAGE',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'MODEL_ARMOR',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  'IMAGE_OTHER',
  'NO_IMAGE',
]);

/** Every reason genbatch knows, with its verdict (docs/finish-reasons.md is the table for people). */
export const KNOWN_FINISH_REASONS: Readonly<Record<string, FinishVerdict>> = {
  STOP: 'ok',
  MAX_TOKENS: 'truncated',
  ...Object.fromEntries([...FILTERED_FINISH_REASONS].map((reason) => [reason, 'filtered' as const])),
  OTHER: 'retry',
  MALFORMED_FUNCTION_CALL: 'retry',
  UNEXPECTED_TOOL_CALL: 'retry',
  TOO_MANY_TOOL_CALLS: 'retry',
  FINISH_REASON_UNSPECIFIED: 'retry',
  // The model paused a long decode and offers a token to continue it; genbatch does not continue, it asks again.
  CONTINUATION: 'retry',
};

/**
 * The verdict for a finish reason. A candidate without one (a reply that never says) is judged by
 * its content, as `ok`; an unknown reason is retried within max_attempts rather than trusted.
 */
export function finishVerdict(reason: string | undefined): FinishVerdict {
  if (reason === undefined || reason === '') return 'ok';
  return KNOWN_FINISH_REASONS[reason] ?? 'retry';
}
