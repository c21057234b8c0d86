import { describe, expect, it } from 'vitest';
import { PromptOccurrences } from '../../src/emulator/prompt-occurrences.js';

describe('PromptOccurrences kept from one emulator to the next', () => {
  it('a restored count goes on from where the earlier emulator stopped; unchanged prompts are not reported again', () => {
    const first = new PromptOccurrences();
    expect([first.next('m', 'a'), first.next('m', 'a'), first.next('m', 'b')]).toEqual([0, 1, 0]);
    const saved = first.takeChanged();
    expect(saved).toHaveLength(2);
    expect(first.takeChanged()).toEqual([]);

    const second = new PromptOccurrences();
    second.restore(saved);
    expect([second.next('m', 'a'), second.next('m', 'b'), second.next('m', 'c')]).toEqual([2, 1, 0]);
    // A count never goes down: an older save restored later changes nothing.
    second.restore(saved);
    expect(second.next('m', 'a')).toBe(3);
  });
});
