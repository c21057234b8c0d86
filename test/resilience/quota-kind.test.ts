import { ApiError } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { QuotaExhaustedError } from '../../src/errors/provider-errors.js';
import { classifyError } from '../../src/resilience/classify-error.js';
import { configuredQuotaKind, quotaKindOf429, sharedCapacityDelay } from '../../src/resilience/quota-kind.js';

/** A 429 as the SDK throws it: the body's JSON text in `message`. */
function apiError429(error: Record<string, unknown>): QuotaExhaustedError {
  const classified = classifyError(new ApiError({ message: JSON.stringify({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', ...error } }), status: 429 }));
  expect(classified).toBeInstanceOf(QuotaExhaustedError);
  return classified as QuotaExhaustedError;
}

const bare = () =>
  apiError429({
    message:
      'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.',
  });
const named = () =>
  apiError429({
    message:
      'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: imagen-4.0-generate-001. Please submit a quota increase request.',
  });
const failure = () =>
  apiError429({
    message: 'You exceeded your current quota.',
    details: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel' }] }],
  });
const daily = () =>
  apiError429({ message: 'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day_per_project with base model: gemini-2.5-flash.' });

describe('configuredQuotaKind', () => {
  it('Vertex Gemini models with no declared limits run on shared capacity', () => {
    expect(configuredQuotaKind({ limits: {} }, 'gemini-2.5-flash')).toBe('shared');
    expect(configuredQuotaKind({ api: 'vertex', limits: {} }, 'gemini-2.0-flash-001')).toBe('shared');
  });

  it('declared limits, Imagen, Veo, embeddings and any Gemini API key are fixed quotas', () => {
    expect(configuredQuotaKind({ limits: { rpm: 60 } }, 'gemini-2.5-flash')).toBe('fixed');
    expect(configuredQuotaKind({ limits: {} }, 'imagen-4.0-generate-001')).toBe('fixed');
    expect(configuredQuotaKind({ limits: {} }, 'veo-3.0-generate-001')).toBe('fixed');
    expect(configuredQuotaKind({ limits: {} }, 'gemini-embedding-001')).toBe('fixed');
    expect(configuredQuotaKind({ limits: {} }, 'text-embedding-005')).toBe('fixed');
    expect(configuredQuotaKind({ api: 'gemini', limits: {} }, 'gemini-2.5-flash')).toBe('fixed');
  });

  it('quota: shared | fixed overrides, the model entry before the project entry', () => {
    expect(configuredQuotaKind({ quotaKind: 'fixed', limits: {} }, 'gemini-2.5-flash')).toBe('fixed');
    expect(configuredQuotaKind({ quotaKind: 'shared', limits: { rpm: 60 } }, 'gemini-2.5-flash')).toBe('shared');
    expect(configuredQuotaKind({ quotaKind: 'fixed', limits: { kind: 'shared' } }, 'gemini-2.5-flash')).toBe('shared');
    expect(configuredQuotaKind({ api: 'gemini', limits: { kind: 'shared' } }, 'gemini-2.5-flash')).toBe('shared');
  });
});

describe('quotaKindOf429', () => {
  it('a bare 429 speaks for what the model is configured as', () => {
    expect(bare().namesQuota).toBe(false);
    expect(quotaKindOf429(bare(), 'shared')).toBe('shared');
    expect(quotaKindOf429(bare(), 'fixed')).toBe('fixed');
  });

  it('a 429 naming its quota (message or QuotaFailure) is fixed, unless quota: shared is forced', () => {
    expect(named().namesQuota).toBe(true);
    expect(failure().namesQuota).toBe(true);
    expect(quotaKindOf429(named(), 'shared')).toBe('fixed');
    expect(quotaKindOf429(failure(), 'shared')).toBe('fixed');
    expect(quotaKindOf429(named(), 'shared', true)).toBe('shared');
  });

  it('a per-day quota is daily', () => {
    expect(quotaKindOf429(daily(), 'shared')).toBe('daily');
    expect(quotaKindOf429(daily(), 'fixed', true)).toBe('daily');
  });
});

describe('sharedCapacityDelay', () => {
  it('1 s doubling to 60 s, with jitter in the upper half', () => {
    expect(sharedCapacityDelay(1, () => 0)).toBe(500);
    expect(sharedCapacityDelay(1, () => 1)).toBe(1000);
    expect(sharedCapacityDelay(3, () => 1)).toBe(4000);
    expect(sharedCapacityDelay(20, () => 1)).toBe(60_000);
    expect(sharedCapacityDelay(20, () => 0)).toBe(30_000);
  });
});
