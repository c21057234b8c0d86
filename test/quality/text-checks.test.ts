import { describe, expect, it } from 'vitest';
import { gateDecision, withFeedback } from '../../src/engine/check-gate.js';
import type { Unit } from '../../src/engine/unit.js';
import { attemptsPerItem } from '../../src/estimate/check-costs.js';
import type { OnFail, Step, StepCheck } from '../../src/job/job.js';
import type { CheckVerdict } from '../../src/quality/check-verdict.js';
import { checksSummary, feedbackFor, runChecks } from '../../src/quality/run-checks.js';
import { checkChars, checkContains, checkMatches, checkNotTruncated, checkWords, countWords } from '../../src/quality/text-checks.js';

describe('text checks', () => {
  it('words and chars count as a reader does, and say by how much an output misses', () => {
    expect(countWords("It's a well-known café, 3 times over.")).toBe(7);
    expect(checkWords('one two three', { min: 5 })).toEqual({ check: 'words', passed: false, reason: '3 words, at least 5' });
    expect(checkWords('one two three', { max: 2 })).toEqual({ check: 'words', passed: false, reason: '3 words, at most 2' });
    expect(checkWords('one two three', { min: 3, max: 3 })).toEqual({ check: 'words', passed: true });
    expect(checkChars('  héllo 👋 ', { max: 7 })).toEqual({ check: 'chars', passed: true });
    expect(checkChars('héllo', { min: 6 })).toEqual({ check: 'chars', passed: false, reason: '5 characters, at least 6' });
  });

  it('contains needs every phrase, not_contains none; the i forms ignore case', () => {
    expect(checkContains('Paris in spring', 'contains', ['Paris', 'summer'])).toEqual({
      check: 'contains',
      passed: false,
      reason: 'does not contain "summer"',
    });
    expect(checkContains('paris', 'contains', ['Paris']).passed).toBe(false);
    expect(checkContains('paris', 'icontains', ['Paris']).passed).toBe(true);
    expect(checkContains('As an AI language model, I', 'not_contains', ['as an AI language model']).passed).toBe(true);
    expect(checkContains('As an AI language model, I', 'not_icontains', ['as an AI language model'])).toEqual({
      check: 'not_icontains',
      passed: false,
      reason: 'contains "as an AI language model"',
    });
  });

  it('matches and not_matches quote what matched; a g flag does not carry over from one output to the next', () => {
    const pattern = /\d+ ?%/g;
    expect(checkMatches('save 20 % now', 'not_matches', pattern, '/\\d+ ?%/g')).toEqual({
      check: 'not_matches',
      passed: false,
      reason: 'matches /\\d+ ?%/g at "20 %"',
    });
    expect(checkMatches('save 30% now', 'matches', pattern, '/\\d+ ?%/g').passed).toBe(true);
    expect(checkMatches('save 30% now', 'matches', pattern, '/\\d+ ?%/g').passed).toBe(true);
    expect(checkMatches('nothing', 'matches', /^[A-Z]/, '^[A-Z]')).toEqual({ check: 'matches', passed: false, reason: 'does not match ^[A-Z]' });
  });

  it('not_truncated fails a reply cut at max_output_tokens', () => {
    expect(checkNotTruncated({ finishReason: 'STOP' }).passed).toBe(true);
    expect(checkNotTruncated({ finishReason: 'MAX_TOKENS', truncated: true }).reason).toMatch(/cut at max_output_tokens/);
  });
});

describe('the check runner', () => {
  const checks: StepCheck[] = [
    { check: 'words', field: 'description', min: 5 },
    { check: 'not_icontains', phrases: ['lorem'] },
    { check: 'judge', model: 'gemini-2.5-flash-lite', rubric: 'good?', minScore: 4 },
  ];

  it('checks a JSON field, then pays a judge only when the free checks pass', async () => {
    let judged = 0;
    const judge = async (): Promise<{ check: string; passed: boolean; score: number }> => {
      judged += 1;
      return { check: 'judge', passed: true, score: 5 };
    };
    const short = await runChecks(checks, { text: '{"description":"too short"}', json: { description: 'too short' } }, judge);
    expect(judged).toBe(0);
    expect(checksSummary(short)).toBe('words');
    expect(feedbackFor(short)).toMatch(/- words: 2 words, at least 5/);
    const good = await runChecks(checks, { text: '{}', json: { description: 'a long enough description here' } }, judge);
    expect(judged).toBe(1);
    expect(checksSummary(good)).toBe('passed (judge 5)');
  });
});

describe('the gate', () => {
  const step = (onFail?: OnFail): Step => ({
    name: 'blurb',
    task: 'text',
    model: 'gemini-2.5-flash',
    prompt: 'p',
    params: {},
    maxAttempts: 3,
    timeoutMs: 1000,
    checks: [{ check: 'words', min: 5 }],
    ...(onFail ? { onFail } : {}),
  });
  const unit = (checkAttempts: number, lastChecks?: CheckVerdict[]): Unit => ({ checkAttempts, ...(lastChecks ? { lastChecks } : {}) }) as unknown as Unit;
  const failed: CheckVerdict[] = [{ check: 'words', passed: false, reason: '2 words, at least 5' }];

  it('regenerates while regenerations are left, then does what `then` says; no on_fail fails at once', () => {
    const onFail: OnFail = { regenerate: 2, feedback: true, then: 'review' };
    expect(gateDecision(step(onFail), unit(0), failed)).toBe('regenerate');
    expect(gateDecision(step(onFail), unit(1), failed)).toBe('regenerate');
    expect(gateDecision(step(onFail), unit(2), failed)).toBe('review');
    expect(gateDecision(step({ ...onFail, then: 'keep' }), unit(2), failed)).toBe('kept');
    expect(gateDecision(step(), unit(0), failed)).toBe('failed');
    expect(gateDecision(step(onFail), unit(1), [{ check: 'words', passed: true }])).toBe('regenerated');
    expect(gateDecision(step(onFail), unit(0), [{ check: 'words', passed: true }])).toBe('passed');
  });

  it('feedback: true adds the failed checks and their reasons to the next prompt, and only then', () => {
    expect(withFeedback(step({ regenerate: 1, feedback: true, then: 'fail' }), unit(1, failed), 'Write about X.').prompt).toBe(
      'Write about X.\n\nAn earlier answer to this request failed these checks; write a new answer that passes them:\n- words: 2 words, at least 5',
    );
    expect(withFeedback(step({ regenerate: 1, feedback: false, then: 'fail' }), unit(1, failed), 'Write about X.')).toEqual({});
    expect(withFeedback(step({ regenerate: 1, feedback: true, then: 'fail' }), unit(0), 'Write about X.')).toEqual({});
  });

  it('without a pilot, the estimate adds the assumed regenerations: 1 + p + ... + p^N attempts per item', () => {
    expect(attemptsPerItem(0.2, 0)).toBe(1);
    expect(attemptsPerItem(0.2, 2)).toBeCloseTo(1.24);
    expect(attemptsPerItem(0.5, 3)).toBeCloseTo(1.875);
  });
});
