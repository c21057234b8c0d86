import { describe, expect, it } from 'vitest';
import { cacheKeyer, cacheKeyOf } from '../../src/cache/cache-key.js';
import type { ProviderRequest } from '../../src/providers/provider.js';

describe('cacheKeyer (the estimate looks every item up by key)', () => {
  it('gives the very key cacheKeyOf gives, member for member, whatever the item part', () => {
    const base: ProviderRequest = {
      task: 'text',
      model: 'gemini-2.5-flash',
      prompt: '',
      params: { thinking_budget: 0, top_p: 0.9 },
      jsonSchema: { type: 'object', properties: { b: { type: 'string' }, a: { type: 'string' } } },
      maxOutputTokens: 300,
      temperature: 0.2,
      thinkingBudget: 128,
    };
    const keyer = cacheKeyer(base);
    for (const item of [{ prompt: 'Brief for "Zürich"\n' }, { prompt: 'x', system: 'Be brief.' }, { prompt: 'e', texts: ['e'] }]) {
      expect(keyer(item)).toBe(cacheKeyOf({ ...base, ...item }));
    }
    expect(cacheKeyer({ task: 'embedding', model: 'text-embedding-005', prompt: '', params: {} })({ prompt: 't', texts: ['t'] })).toBe(
      cacheKeyOf({ task: 'embedding', model: 'text-embedding-005', prompt: 't', texts: ['t'], params: {}, timeoutMs: 5, labels: { a: 'b' } }),
    );
  });
});
