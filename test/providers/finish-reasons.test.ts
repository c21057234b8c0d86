import { FinishReason } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { FILTERED_FINISH_REASONS, KNOWN_FINISH_REASONS, finishVerdict } from '../../src/providers/finish-reasons.js';

describe('finish reason classification', () => {
  it('gives each reason its verdict: STOP ok, MAX_TOKENS truncated, policy reasons filtered, the rest retried', () => {
    expect(finishVerdict('STOP')).toBe('ok');
    expect(finishVerdict(undefined)).toBe('ok');
    expect(finishVerdict('MAX_TOKENS')).toBe('truncated');
    for (const reason of [
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
    ])
      expect([reason, finishVerdict(reason)]).toEqual([reason, 'filtered']);
    for (const reason of [
      'OTHER',
      'MALFORMED_FUNCTION_CALL',
      'UNEXPECTED_TOOL_CALL',
      'TOO_MANY_TOOL_CALLS',
      'FINISH_REASON_UNSPECIFIED',
      'CONTINUATION',
      'A_REASON_FROM_2027',
    ])
      expect([reason, finishVerdict(reason)]).toEqual([reason, 'retry']);
  });

  it('knows every finish reason of the installed SDK (a new one shows up here, not as a silent retry)', () => {
    const unknown = Object.values(FinishReason).filter((reason) => !(reason in KNOWN_FINISH_REASONS));
    expect(unknown).toEqual([]);
    // MODEL_ARMOR is Vertex's (content.proto), not yet in the SDK's enum.
    expect(FILTERED_FINISH_REASONS.has('MODEL_ARMOR')).toBe(true);
  });
});
