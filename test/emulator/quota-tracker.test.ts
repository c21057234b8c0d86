import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig } from '../../src/emulator/index.js';
import { QuotaTracker } from '../../src/emulator/quota-tracker.js';
import { countTextTokens, truncateToTokens } from '../../src/emulator/token-count.js';

const config = parseEmulatorConfig({
  projects: {
    p: { rpm: 2, models: { m: { requests: 1, window: '10s' } } },
    capped: { rpd: 2 },
  },
}).projects;

describe('QuotaTracker', () => {
  it('slides the rpm window and says when the next slot frees', () => {
    const quotas = new QuotaTracker();
    const t0 = Date.UTC(2026, 0, 1, 12);
    expect(quotas.admit('p', 'x', config.p, t0).kind).toBe('ok');
    expect(quotas.admit('p', 'x', config.p, t0 + 20_000).kind).toBe('ok');
    expect(quotas.admit('p', 'x', config.p, t0 + 30_000)).toMatchObject({ kind: 'window', limit: 2, windowMs: 60_000, retryAfterMs: 30_000 });
    // A rejected request takes no slot: the first one leaves the window at t0 + 60 s.
    expect(quotas.admit('p', 'x', config.p, t0 + 60_001).kind).toBe('ok');
  });

  it('applies per-model windows on top of the project window', () => {
    const quotas = new QuotaTracker();
    const t0 = Date.UTC(2026, 0, 1, 12);
    expect(quotas.admit('p', 'm', config.p, t0).kind).toBe('ok');
    expect(quotas.admit('p', 'm', config.p, t0 + 1000)).toMatchObject({ kind: 'window', scope: 'project p, model m', retryAfterMs: 9000 });
    expect(quotas.admit('p', 'other', config.p, t0 + 1000).kind).toBe('ok');
  });

  it('caps requests per day and resets at midnight Pacific (08:00 UTC in winter), as Vertex does', () => {
    const quotas = new QuotaTracker();
    const evening = Date.UTC(2026, 0, 2, 7, 59); // 23:59 PST
    quotas.admit('capped', 'm', config.capped, evening);
    quotas.admit('capped', 'm', config.capped, evening);
    expect(quotas.admit('capped', 'm', config.capped, evening)).toMatchObject({ kind: 'per_day', limit: 2, retryAfterMs: 60_000 });
    expect(quotas.admit('capped', 'm', config.capped, Date.UTC(2026, 0, 2, 8, 0, 1)).kind).toBe('ok');
  });

  it('never limits a project the config does not name', () => {
    const quotas = new QuotaTracker();
    for (let i = 0; i < 1000; i++) expect(quotas.admit('free', 'm', undefined, 0).kind).toBe('ok');
  });
});

describe('token heuristic', () => {
  it('counts words, punctuation, digits and line breaks like a tokenizer would, roughly', () => {
    expect(countTextTokens('Hello, world.')).toBe(4);
    expect(countTextTokens('2024')).toBe(4);
    expect(countTextTokens('internationalisation')).toBe(4);
    expect(countTextTokens('a\n\nb')).toBe(3);
    expect(countTextTokens('日本語')).toBe(3);
    expect(countTextTokens('')).toBe(0);
  });

  it('truncates to a token budget on a token boundary', () => {
    const text = 'one two three four five';
    expect(truncateToTokens(text, 3)).toBe('one two three');
    expect(countTextTokens(truncateToTokens(text, 3))).toBe(3);
    expect(truncateToTokens(text, 100)).toBe(text);
  });
});
