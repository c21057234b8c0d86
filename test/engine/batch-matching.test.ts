import { describe, expect, it } from 'vitest';
import { echoedRequest } from '../../src/emulator/batch/batch-line.js';
import { BatchLineMatcher, ITEM_LABEL, itemLabel, requestHash } from '../../src/engine/executors/batch-matching.js';
import { batchRequestOf } from '../../src/providers/gemini-batch.js';
import type { ProviderRequest } from '../../src/providers/provider.js';

/** The matching rules of batch output lines, on requests built by the batch provider itself. */

const request = (prompt: string, itemId: string): Record<string, unknown> => {
  const asked: ProviderRequest = {
    task: 'text',
    model: 'gemini-2.5-flash',
    prompt,
    system: 'Answer in one line.',
    maxOutputTokens: 200,
    temperature: 0.7,
    jsonSchema: { type: 'object', properties: { line: { type: 'string' } }, required: ['line'] },
    params: {},
    labels: { genbatch_job: 'nightly', [ITEM_LABEL]: itemLabel(itemId) },
  };
  return batchRequestOf(asked);
};

describe('batch output matching', () => {
  it('labels are valid Vertex label values, the same for the same id, different for ids that differ only in case or symbols', () => {
    for (const id of ['a', 'A', 'post/1', 'post 1', 'ü'.repeat(200), '']) expect(itemLabel(id)).toMatch(/^[a-z][0-9a-f]{40}$/);
    expect(itemLabel('Post-1')).toBe(itemLabel('Post-1'));
    expect(new Set(['Post-1', 'post-1', 'post_1', 'post 1'].map(itemLabel)).size).toBe(4);
  });

  it('the request as Vertex echoes it (proto JSON re-serialised, labels dropped) has the hash of the request sent', () => {
    const sent = request('Say hello.', 'x');
    const { labels: _labels, ...withoutLabels } = echoedRequest(sent);
    expect(requestHash(withoutLabels)).toBe(requestHash(sent));
    // snake_case names and a null sibling, as some services print them, too.
    const snake = {
      contents: [{ parts: [{ text: 'Say hello.', file_data: null }], role: 'user' }],
      system_instruction: { parts: [{ text: 'Answer in one line.' }] },
    };
    expect(requestHash(snake)).toBe(requestHash(sent));
    expect(requestHash(request('Say hello!', 'x'))).not.toBe(requestHash(sent));
    expect(requestHash('not a request')).toBeUndefined();
  });

  it('matches by key, else label, else hash, each item once, never by position', () => {
    const ids = ['one', 'two', 'three', 'twin-a', 'twin-b'];
    const prompts: Record<string, string> = { one: 'Say 1.', two: 'Say 2.', three: 'Say 3.', 'twin-a': 'Say twin.', 'twin-b': 'Say twin.' };
    const sent = Object.fromEntries(ids.map((id) => [id, request(prompts[id] as string, id)]));
    const matcher = new BatchLineMatcher(ids.map((id) => ({ itemId: id, member: id, hash: requestHash(sent[id]) })));
    const noLabel = (id: string): unknown => {
      const { labels: _labels, ...rest } = echoedRequest(sent[id] as Record<string, unknown>);
      return rest;
    };
    expect(matcher.match({ key: 'two', request: noLabel('one') })).toMatchObject({ itemId: 'two', by: 'key' });
    expect(matcher.match({ request: echoedRequest(sent.three as Record<string, unknown>) })).toMatchObject({ itemId: 'three', by: 'label' });
    expect(matcher.match({ request: noLabel('one') })).toMatchObject({ itemId: 'one', by: 'hash' });
    // The same request twice: each line answers one of the twins.
    expect(matcher.match({ request: noLabel('twin-a') })).toMatchObject({ itemId: 'twin-a', by: 'hash' });
    expect(matcher.match({ request: noLabel('twin-b') })).toMatchObject({ itemId: 'twin-b', by: 'hash' });
    // Second lines, unknown labels and requests nobody sent match nothing, and say why.
    const again = { request: echoedRequest(sent.three as Record<string, unknown>) };
    expect(matcher.match(again)).toBeUndefined();
    expect(matcher.explain(again)).toBe('a second line for item "three"');
    const stranger = { request: { ...(noLabel('one') as object), labels: { [ITEM_LABEL]: itemLabel('nobody') } } };
    expect(matcher.match(stranger)).toBeUndefined();
    expect(matcher.explain(stranger)).toMatch(/^label genbatch_item=i[0-9a-f]{40} names no item of this job$/);
    const unsent = { request: { contents: [{ parts: [{ text: 'Say 4.' }] }] } };
    expect(matcher.match(unsent)).toBeUndefined();
    expect(matcher.explain(unsent)).toBe('no key, no genbatch_item label, and its request matches none sent');
  });
});
