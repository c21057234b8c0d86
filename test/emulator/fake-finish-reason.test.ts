import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig } from '../../src/emulator/emulator-config.js';
import { applyFinishReason, drawFinishReason } from '../../src/emulator/fake-finish-reason.js';

describe('emulator finish_reasons', () => {
  it('draws each reason at about its share, reproducibly, and a new draw per ask', () => {
    const rates = { RECITATION: 0.1, OTHER: 0.05 };
    const counts: Record<string, number> = {};
    for (let asked = 1; asked <= 4000; asked++) {
      const reason = drawFinishReason(rates, 7, 'gemini-2.5-flash', `prompt-${asked % 40}`, asked) ?? 'own';
      counts[reason] = (counts[reason] ?? 0) + 1;
    }
    expect(counts.RECITATION! / 4000).toBeGreaterThan(0.08);
    expect(counts.RECITATION! / 4000).toBeLessThan(0.12);
    expect(counts.OTHER! / 4000).toBeGreaterThan(0.035);
    expect(counts.OTHER! / 4000).toBeLessThan(0.065);
    expect(drawFinishReason(rates, 7, 'm', 'p', 3)).toBe(drawFinishReason(rates, 7, 'm', 'p', 3));
    expect(drawFinishReason(undefined, 7, 'm', 'p', 3)).toBeUndefined();
  });

  it('keeps half the text for RECITATION, OTHER and MAX_TOKENS, none for the filters', () => {
    const text = 'one two three four five six seven eight nine ten';
    expect(applyFinishReason('OTHER', text).text).toBe('one two three four five');
    expect(applyFinishReason('SAFETY', text)).toEqual({ text: '', finishReason: 'SAFETY' });
    expect(applyFinishReason('MALFORMED_FUNCTION_CALL', text).text).toBe('');
  });

  it('is configured globally or per model, and refuses shares over 1 or names Google would not write', () => {
    const config = parseEmulatorConfig({ finish_reasons: { OTHER: 0.5 }, models: { 'gemini-2.5-pro': { finish_reasons: { SAFETY: 1 } } } });
    expect(config.finish_reasons).toEqual({ OTHER: 0.5 });
    expect(config.models['gemini-2.5-pro']?.finish_reasons).toEqual({ SAFETY: 1 });
    expect(() => parseEmulatorConfig({ finish_reasons: { OTHER: 0.6, SAFETY: 0.6 } })).toThrow(/add up to more than 1/);
    expect(() => parseEmulatorConfig({ finish_reasons: { recitation: 0.1 } })).toThrow(/as Google names them/);
  });
});
