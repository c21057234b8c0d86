import { describe, expect, it } from 'vitest';
import { QuotaExhaustedError } from '../../src/errors/provider-errors.js';
import { kindOf429, resolveRoute } from '../../src/coordination/model-route.js';
import { project } from '../helpers/project-credentials.js';

/**
 * A step's model is resolved once per project into a route: its limits, its kind of quota and the
 * keys every run shares them under. The pool builds the project's breaker, limiter and capacity
 * window for the model from it, and a lease carries it down.
 */
const FLASH = 'gemini-2.5-flash';
const bare429 = (): QuotaExhaustedError => new QuotaExhaustedError('Resource exhausted.', { httpStatus: 429 });
const named429 = (): QuotaExhaustedError => new QuotaExhaustedError('Quota exceeded for quota metric …', { httpStatus: 429, namesQuota: true });
const daily429 = (): QuotaExhaustedError => new QuotaExhaustedError('per day', { httpStatus: 429, perDay: true });

describe('resolveRoute', () => {
  it('a Vertex Gemini model with no quotas runs on the shared capacity of its model and location', () => {
    const route = resolveRoute(project('p1', { quotas: {} }), FLASH);
    expect(route).toMatchObject({ project: 'p1', model: FLASH, api: 'vertex', location: 'us-central1', limits: {}, kind: 'shared', kindForced: false });
    expect(route.quotaKey).toBe(`vertex|gcp-p1|us-central1|${FLASH}`);
    // The window belongs to the model and location, whatever the project.
    expect(route.windowKey).toBe(JSON.stringify(['vertex', 'us-central1', FLASH]));
    expect(resolveRoute(project('p2', { quotas: {} }), FLASH).windowKey).toBe(route.windowKey);
    expect(kindOf429(route, bare429())).toBe('shared');
    expect(kindOf429(route, named429())).toBe('fixed');
    expect(kindOf429(route, daily429())).toBe('daily');
  });

  it('declared quotas make it a fixed, per-project quota with no capacity window; the model’s own entry wins over default', () => {
    const p = project('p1', { quotas: { default: { rpm: 60 }, [FLASH]: { rpm: 10, rpd: 500 } } });
    const route = resolveRoute(p, FLASH);
    expect(route).toMatchObject({ kind: 'fixed', kindForced: false, limits: { rpm: 10, rpd: 500 }, windowKey: undefined });
    expect(resolveRoute(p, 'gemini-2.0-flash-001').limits).toEqual({ rpm: 60 });
    expect(kindOf429(route, bare429())).toBe('fixed');
  });

  it('a Gemini API key: fixed, keyed by a hash of the key (never the key), whatever the entry is called', () => {
    const key = 'AIza-secret-key';
    const auth = { kind: 'api_key' as const, apiKey: key, source: 'file' as const };
    const route = resolveRoute(project('studio', { api: 'gemini', quotas: {}, auth }), FLASH);
    expect(route).toMatchObject({ api: 'gemini', kind: 'fixed', windowKey: undefined });
    expect(route.quotaKey).toMatch(new RegExp(`^gemini\\|key:[0-9a-f]{16}\\|us-central1\\|${FLASH}$`));
    expect(route.quotaKey).not.toContain(key);
    expect(resolveRoute(project('other-label', { api: 'gemini', quotas: {}, auth }), FLASH).quotaKey).toBe(route.quotaKey);
  });

  it('a `quota:` override wins (the model’s over the entry’s) and is forced: a 429 naming its quota stays shared', () => {
    const shared = resolveRoute(project('p1', { quotas: { [FLASH]: { rpm: 100, kind: 'shared' } } }), FLASH);
    expect(shared).toMatchObject({ kind: 'shared', kindForced: true, windowKey: JSON.stringify(['vertex', 'us-central1', FLASH]) });
    expect(kindOf429(shared, named429())).toBe('shared');
    const entry = resolveRoute(project('p1', { quotas: {}, quotaKind: 'fixed' }), FLASH);
    expect(entry).toMatchObject({ kind: 'fixed', kindForced: true, windowKey: undefined });
    const modelOverEntry = resolveRoute(project('p1', { quotas: { default: { kind: 'shared' } }, quotaKind: 'fixed' }), FLASH);
    expect(modelOverEntry.kind).toBe('shared');
  });

  it('the global endpoint: its own location in the keys, and an emulator endpoint is another quota holder', () => {
    const global = resolveRoute(project('p1', { quotas: {}, location: 'global' }), FLASH);
    expect(global).toMatchObject({ location: 'global', kind: 'shared' });
    expect(global.quotaKey).toBe(`vertex|gcp-p1|global|${FLASH}`);
    expect(global.windowKey).toBe(JSON.stringify(['vertex', 'global', FLASH]));
    const emulated = resolveRoute(project('p1', { quotas: {}, location: 'global', endpoint: 'http://127.0.0.1:9000/' }), FLASH);
    expect(emulated.quotaKey).toBe(`http://127.0.0.1:9000|gcp-p1|global|${FLASH}`);
    expect(emulated.windowKey).toBe(JSON.stringify(['http://127.0.0.1:9000', 'global', FLASH]));
  });

  it('Imagen, Veo and embedding models are per-project quotas even with no quotas declared', () => {
    for (const model of ['imagen-4.0-generate-001', 'veo-3.0-generate-001', 'gemini-embedding-001']) {
      expect(resolveRoute(project('p1', { quotas: {} }), model)).toMatchObject({ kind: 'fixed', windowKey: undefined });
    }
  });
});
