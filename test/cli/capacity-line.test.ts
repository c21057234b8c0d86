import { describe, expect, it } from 'vitest';
import { capacityLine } from '../../src/cli/live-view.js';

describe('the live view line of shared capacity', () => {
  it('shows the window per model and location, calls in flight and the recent share of 429s', () => {
    expect(capacityLine([])).toBe('');
    expect(
      capacityLine([
        { model: 'gemini-2.5-flash', location: 'us-central1', limit: 7, inFlight: 6, successes: 190, refusals: 10, timeouts: 0, refusedShare: 0.05 },
        { model: 'gemini-2.5-flash', location: 'global', limit: 12, inFlight: 0, successes: 0, refusals: 0, timeouts: 0, refusedShare: 0 },
      ]),
    ).toBe('gemini-2.5-flash@us-central1: window 7, 6 in flight, 5.0% 429 | gemini-2.5-flash@global: window 12, 0 in flight, 0.0% 429');
  });
});
