import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseEmulatorConfig } from '../../src/emulator/index.js';
import { BLOCK_TOKENS } from '../../src/emulator/caching/implicit-cache.js';
import { startTestEmulator, TEST_PROJECT, useResetEmulator } from '../helpers/emulator-client.js';

/**
 * Implicit caching, on by default for Gemini 2.5 models as on Vertex: a request that starts with a
 * prefix of at least 2,048 tokens sent within the window (5 minutes by default) reports that prefix
 * as cachedContentTokenCount (part of promptTokenCount), in whole blocks of 128 tokens; the reply is
 * the same as without caching; `caching.implicit: false` turns it off.
 */
const MODEL = 'gemini-2.5-flash';
/** One token per word as the emulator counts (token-count.ts). */
const words = (tokens: number): string => 'word '.repeat(tokens).trim();
const STYLE = words(3000);

describe('emulator: implicit caching', () => {
  const t = useResetEmulator({});
  afterEach(() => {
    vi.useRealTimers();
  });

  const ask = (item: string, opts: { model?: string; system?: string; project?: string; seed?: number } = {}) =>
    t
      .client(opts.project)
      .models.generateContent({
        model: opts.model ?? MODEL,
        contents: item,
        config: { systemInstruction: opts.system ?? STYLE, thinkingConfig: { thinkingBudget: 0 }, ...(opts.seed === undefined ? {} : { seed: opts.seed }) },
      })
      .then((r) => r.usageMetadata);

  it('caches the whole blocks of a system instruction shared with a request sent just before', async () => {
    const first = await ask('Item one: a blue teapot.');
    expect(first?.cachedContentTokenCount).toBeUndefined();
    const second = await ask('Item two: a red kettle.');
    // 3,000 shared tokens: 23 whole blocks of 128 (2,944) are cached.
    expect(second?.cachedContentTokenCount).toBe(Math.floor(3000 / BLOCK_TOKENS) * BLOCK_TOKENS);
    expect(second?.cachedContentTokenCount).toBe(2944);
    // Part of promptTokenCount, and reported per modality as Vertex does.
    expect(second?.promptTokenCount).toBeGreaterThan(3000);
    expect(second?.cacheTokensDetails).toEqual([{ modality: 'TEXT', tokenCount: 2944 }]);
    const stats = t.stats().projects[TEST_PROJECT];
    expect(stats?.cached_input_tokens).toBe(2944);
    expect(stats?.by_model[MODEL]?.cached_input_tokens).toBe(2944);
    expect(stats?.input_tokens).toBe((first?.promptTokenCount ?? 0) + (second?.promptTokenCount ?? 0));
  });

  it('counts a prefix that runs on into the contents (system instruction, then contents)', async () => {
    await ask(`${words(1000)} first item`, { system: words(1500) });
    const hit = await ask(`${words(1000)} second item`, { system: words(1500) });
    // 2,500 shared tokens (a line break joins the turn's text, as the prompt is counted): 19 blocks.
    expect(hit?.cachedContentTokenCount).toBe(2432);
  });

  it('does not cache a prefix under 2,048 tokens', async () => {
    await ask('Item one.', { system: words(2000) });
    const again = await ask('Item two.', { system: words(2000) });
    expect(again?.cachedContentTokenCount).toBeUndefined();
    expect(t.stats().projects[TEST_PROJECT]?.cached_input_tokens).toBe(0);
  });

  it('forgets a prefix not sent for longer than the window (5 minutes), and keeps one in use', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-12-07T10:00:00Z');
    vi.setSystemTime(start);
    await ask('Item one.');
    vi.setSystemTime(start + 4 * 60_000);
    expect((await ask('Item two.'))?.cachedContentTokenCount).toBe(2944);
    // Four minutes after its last use: still there.
    vi.setSystemTime(start + 8 * 60_000);
    expect((await ask('Item three.'))?.cachedContentTokenCount).toBe(2944);
    vi.setSystemTime(start + 13 * 60_000 + 1);
    expect((await ask('Item four.'))?.cachedContentTokenCount).toBeUndefined();
  });

  it('is per project and per model, and only for Gemini 2.5 models', async () => {
    await ask('Item one.');
    expect((await ask('Item two.', { project: 'other-project' }))?.cachedContentTokenCount).toBeUndefined();
    expect((await ask('Item two.', { model: 'gemini-2.5-flash-lite' }))?.cachedContentTokenCount).toBeUndefined();
    await ask('Item one.', { model: 'gemini-2.0-flash' });
    expect((await ask('Item two.', { model: 'gemini-2.0-flash' }))?.cachedContentTokenCount).toBeUndefined();
  });

  it('can be switched off for exact counts, and never changes a reply', async () => {
    const off = await startTestEmulator({ caching: { implicit: false } });
    try {
      const replies = async (client: ReturnType<typeof off.client>) => {
        const out = [];
        for (const item of ['Item one.', 'Item two.', 'Item one.']) {
          const r = await client.models.generateContent({
            model: MODEL,
            contents: item,
            config: { systemInstruction: STYLE, thinkingConfig: { thinkingBudget: 0 } },
          });
          out.push({ text: r.text, prompt: r.usageMetadata?.promptTokenCount, cached: r.usageMetadata?.cachedContentTokenCount });
        }
        return out;
      };
      const withCache = await replies(t.client());
      const without = await replies(off.client());
      expect(withCache.map((r) => r.cached)).toEqual([undefined, 2944, expect.any(Number)]);
      expect(without.map((r) => r.cached)).toEqual([undefined, undefined, undefined]);
      expect(withCache.map((r) => [r.text, r.prompt])).toEqual(without.map((r) => [r.text, r.prompt]));
      expect(off.stats().projects[TEST_PROJECT]?.cached_input_tokens).toBe(0);
    } finally {
      await off.close();
    }
  });

  it('rejects an unknown caching key with the valid ones named', () => {
    expect(() => parseEmulatorConfig({ caching: { implicitt: false } })).toThrow(/implicit/);
    expect(parseEmulatorConfig({ caching: { implicit_window: '90s' } }).caching).toEqual({
      implicit: true,
      implicit_min_tokens: 2048,
      implicit_window: 90_000,
      explicit_min_tokens: 2048,
    });
  });
});
