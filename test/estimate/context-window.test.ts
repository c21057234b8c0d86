import { describe, expect, it } from 'vitest';
import { contextWindowCheck } from '../../src/estimate/context-window.js';
import { compileJob } from '../../src/job/compile-job.js';

/** A compiled job with these steps (and optional prices), for the context-window check. */
function job(steps: Record<string, unknown>[], prices?: Record<string, Record<string, unknown>>) {
  return compileJob(
    { version: 1, name: 'ctx', input: { file: 'posts.csv', id: 'slug' }, credentials: 'c.yaml', steps, ...(prices ? { prices } : {}) },
    'job.yaml',
  );
}

describe('the context-window check of each row', () => {
  it('flags only the rows over the window, counting each CJK character as a token, and counts them for the summary', () => {
    const check = contextWindowCheck(job([{ name: 'hero', task: 'image', model: 'gemini-2.5-flash-image', prompt: 'Poster: {{title}}' }]));
    expect(check).toBeDefined();
    expect(check?.row({ title: 'short' })).toEqual([]);
    expect(check?.row({ title: '漢'.repeat(32_770) })).toEqual([{ step: 'hero', model: 'gemini-2.5-flash-image', tokens: expect.any(Number), limit: 32_768 }]);
    expect(check?.summary(2)).toMatch(/^1 of 2 row\(s\) have a prompt longer than the model's context window \(gemini-2\.5-flash-image: 32,768 tokens\)/);
  });

  it('fields of earlier steps count as empty: a prompt is flagged only when it is too long whatever they hold', () => {
    const check = contextWindowCheck(
      job(
        [
          { name: 'brief', task: 'text', model: 'gemini-2.5-flash', prompt: 'Brief for {{title}}', json: { image_prompt: 'string' } },
          { name: 'hero', task: 'image', model: 'imagen-4.0-fast-generate-001', prompt: '{{steps.brief.image_prompt}} {{body}}' },
        ],
        undefined,
      ),
    );
    expect(check?.row({ title: 't', body: 'a clean poster' })).toEqual([]);
    expect(check?.row({ title: 't', body: 'word '.repeat(500) }).map((o) => o.step)).toEqual(['hero']);
  });

  it('embeddings are checked only when Vertex would refuse rather than truncate (auto_truncate: false); a window set under prices: is used', () => {
    const long = { body: 'token '.repeat(5000) };
    const truncating = job([{ name: 'e', task: 'embedding', model: 'text-embedding-005', prompt: '{{body}}' }]);
    expect(contextWindowCheck(truncating)).toBeUndefined();
    const strict = job([{ name: 'e', task: 'embedding', model: 'text-embedding-005', prompt: '{{body}}', params: { auto_truncate: false } }]);
    expect(contextWindowCheck(strict)?.row(long)).toEqual([expect.objectContaining({ limit: 2048 })]);
    const tuned = job([{ name: 't', task: 'text', model: 'my-model', prompt: '{{body}}' }], { 'my-model': { input_per_1m: 1, input_token_limit: 100 } });
    expect(contextWindowCheck(tuned)?.row({ body: 'x'.repeat(400) })).toEqual([expect.objectContaining({ limit: 100 })]);
  });
});
