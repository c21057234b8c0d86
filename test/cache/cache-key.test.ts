import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatByteSize, parseByteSize } from '../../src/cache/byte-size.js';
import { canonicalJson } from '../../src/cache/cache-key.js';
import { cacheDir, cacheKeyOf } from '../../src/cache/response-cache.js';
import type { ProviderRequest } from '../../src/providers/provider.js';

const BASE: ProviderRequest = {
  task: 'text',
  model: 'gemini-2.5-flash',
  prompt: 'Write an image brief. Title: Redis in production.',
  system: 'You write briefs.',
  jsonSchema: { type: 'object', properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' } }, required: ['image_prompt', 'alt_text'] },
  maxOutputTokens: 1024,
  thinkingBudget: 0,
  temperature: 0.4,
  params: { top_p: 0.9, safety: { harassment: 'block_none', hate: 'block_low' } },
};

describe('cacheKeyOf', () => {
  it('is the sha256 (hex) of what decides the answer, stable across versions of genbatch', () => {
    const key = cacheKeyOf(BASE);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKeyOf({ ...BASE })).toBe(key);
    // Pinned: a change to what goes into keys must be deliberate (it turns every user's cache into misses).
    const canonical = '{"model":"gemini-2.5-flash","params":{},"prompt":"hello","task":"text","v":1}';
    expect(createHash('sha256').update(canonical).digest('hex')).toBe('36a13e3192e0688fde9614815ae1768190d1a70bfd9550b6b834c3f6c110e219');
    expect(cacheKeyOf({ task: 'text', model: 'gemini-2.5-flash', prompt: 'hello', params: {} })).toBe(
      '36a13e3192e0688fde9614815ae1768190d1a70bfd9550b6b834c3f6c110e219',
    );
  });

  it('is the sha256 of the canonical JSON of every decisive field and the key version', () => {
    const { task, model, prompt, system, jsonSchema, maxOutputTokens, thinkingBudget, temperature, params } = BASE;
    const decisive = { v: 1, task, model, prompt, texts: ['a', 'b'], system, jsonSchema, maxOutputTokens, thinkingBudget, temperature, params };
    expect(cacheKeyOf({ ...BASE, texts: ['a', 'b'] })).toBe(createHash('sha256').update(canonicalJson(decisive)).digest('hex'));
  });

  it('ignores the order of keys in params and the JSON schema, at every depth', () => {
    const reordered: ProviderRequest = {
      params: { safety: { hate: 'block_low', harassment: 'block_none' }, top_p: 0.9 },
      temperature: 0.4,
      thinkingBudget: 0,
      maxOutputTokens: 1024,
      jsonSchema: { required: ['image_prompt', 'alt_text'], properties: { alt_text: { type: 'string' }, image_prompt: { type: 'string' } }, type: 'object' },
      system: 'You write briefs.',
      prompt: BASE.prompt,
      model: BASE.model,
      task: 'text',
    };
    expect(cacheKeyOf(reordered)).toBe(cacheKeyOf(BASE));
  });

  it('ignores labels (run and item ids), the abort signal and the timeout', () => {
    const withRun: ProviderRequest = {
      ...BASE,
      labels: { genbatch_run: 'r-1', genbatch_item: 'post-7' },
      signal: new AbortController().signal,
      timeoutMs: 30_000,
    };
    const otherRun: ProviderRequest = { ...BASE, labels: { genbatch_run: 'r-2', genbatch_item: 'copy-of-post-7' }, timeoutMs: 5_000 };
    expect(cacheKeyOf(withRun)).toBe(cacheKeyOf(BASE));
    expect(cacheKeyOf(otherRun)).toBe(cacheKeyOf(BASE));
  });

  it('changes with any decisive field or parameter; the API that answers is not one', () => {
    const variants: ProviderRequest[] = [
      { ...BASE, task: 'image' },
      { ...BASE, model: 'gemini-2.5-pro' },
      { ...BASE, prompt: `${BASE.prompt} ` },
      { ...BASE, texts: ['a', 'b'] },
      { ...BASE, texts: ['b', 'a'] },
      { ...BASE, system: 'You write short briefs.' },
      { ...BASE, system: undefined },
      { ...BASE, jsonSchema: { ...BASE.jsonSchema, required: ['image_prompt'] } },
      { ...BASE, jsonSchema: undefined },
      { ...BASE, maxOutputTokens: 1025 },
      { ...BASE, thinkingBudget: 512 },
      { ...BASE, temperature: 0.5 },
      { ...BASE, temperature: undefined },
      { ...BASE, params: { ...BASE.params, top_p: 0.8 } },
      { ...BASE, params: { ...BASE.params, seed: 1 } },
      { ...BASE, params: { top_p: 0.9, safety: { harassment: 'block_none', hate: 'block_none' } } },
      { ...BASE, params: { top_p: '0.9', safety: { harassment: 'block_none', hate: 'block_low' } } },
    ];
    const keys = new Set([cacheKeyOf(BASE), ...variants.map((v) => cacheKeyOf(v))]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('writes canonical JSON: sorted keys at every depth, undefined members left out, arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 2 }], c: null }, e: undefined })).toBe('{"a":{"c":null,"d":[3,{"x":2,"z":1}]},"b":1}');
    expect(canonicalJson({ at: new Date('2025-01-02T03:04:05.000Z') })).toBe('{"at":"2025-01-02T03:04:05.000Z"}');
  });
});

describe('cacheDir', () => {
  it('is GENBATCH_CACHE_DIR, else $XDG_CACHE_HOME/genbatch, else ~/.cache/genbatch', () => {
    expect(cacheDir({ GENBATCH_CACHE_DIR: '/srv/cache', XDG_CACHE_HOME: '/xdg' })).toBe('/srv/cache');
    expect(cacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/genbatch');
    expect(cacheDir({ XDG_CACHE_HOME: 'relative/xdg' })).toBe(join(homedir(), '.cache', 'genbatch'));
    expect(cacheDir({ GENBATCH_CACHE_DIR: '' })).toBe(join(homedir(), '.cache', 'genbatch'));
  });
});

describe('sizes', () => {
  it('reads bytes and B, KB, MB, GB, TB (powers of 1024, MiB too), and refuses anything else', () => {
    expect(parseByteSize('1234')).toBe(1234);
    expect(parseByteSize('500MB')).toBe(500 * 1024 ** 2);
    expect(parseByteSize('500 mb')).toBe(500 * 1024 ** 2);
    expect(parseByteSize('2GB')).toBe(2 * 1024 ** 3);
    expect(parseByteSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('64k')).toBe(65536);
    expect(parseByteSize('10B')).toBe(10);
    for (const bad of ['', 'MB', '-5MB', '5 XB', 'lots', '1e3', '5MBs']) expect(parseByteSize(bad), bad).toBeUndefined();
    expect(formatByteSize(512)).toBe('512 B');
    expect(formatByteSize(1536)).toBe('1.5 KB');
    expect(formatByteSize(2 * 1024 ** 3)).toBe('2,048 MB');
  });
});
