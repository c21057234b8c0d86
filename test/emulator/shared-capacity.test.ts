import { ApiError } from '@google/genai';
import { describe, expect, it, vi } from 'vitest';
import { parseEmulatorConfig } from '../../src/emulator/index.js';
import { capacityFor, DEFAULT_SHARED_IN_FLIGHT, limitAt, SharedCapacity } from '../../src/emulator/shared-capacity.js';
import { useResetEmulator, vertexClient } from '../helpers/emulator-client.js';

const MODEL = 'gemini-2.5-flash';
const BARE_429 = {
  error: {
    code: 429,
    message:
      'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.',
    status: 'RESOURCE_EXHAUSTED',
  },
};

describe('SharedCapacity (injected clock)', () => {
  it('refuses a call above the in-flight limit, whoever sends it, and admits again once one is released', () => {
    const pool = new SharedCapacity();
    const spec = { in_flight: 2 };
    const first = pool.admit('us-central1', MODEL, spec, 0);
    const second = pool.admit('us-central1', MODEL, spec, 1);
    expect(first.kind).toBe('ok');
    expect(second.kind).toBe('ok');
    expect(pool.admit('us-central1', MODEL, spec, 2)).toEqual({ kind: 'refused', limit: { in_flight: 2 } });
    // Another location and another model are other pools.
    expect(pool.admit('global', MODEL, spec, 2).kind).toBe('ok');
    expect(pool.admit('us-central1', 'gemini-2.5-pro', spec, 2).kind).toBe('ok');
    if (first.kind === 'ok') {
      first.release();
      first.release(); // twice frees one slot only
    }
    expect(pool.admit('us-central1', MODEL, spec, 3).kind).toBe('ok');
    expect(pool.admit('us-central1', MODEL, spec, 4).kind).toBe('refused');
    expect(pool.snapshot(4)['us-central1']?.[MODEL]).toEqual({
      limit: { in_flight: 2 },
      in_flight: 2,
      peak_in_flight: 2,
      last_second: 3,
      admitted: 3,
      rejected_429: 2,
    });
  });

  it('counts requests per second in a sliding 1 s window', () => {
    const pool = new SharedCapacity();
    const spec = { rps: 3 };
    for (const at of [0, 100, 200]) expect(pool.admit('europe-west4', MODEL, spec, at).kind).toBe('ok');
    expect(pool.admit('europe-west4', MODEL, spec, 999).kind).toBe('refused');
    // The call admitted at 0 leaves the window at 1000; a refused one took no slot.
    expect(pool.admit('europe-west4', MODEL, spec, 1000).kind).toBe('ok');
    expect(pool.admit('europe-west4', MODEL, spec, 1050).kind).toBe('refused');
    expect(pool.admit('europe-west4', MODEL, spec, 1100).kind).toBe('ok');
  });

  it('follows a schedule from the first call of the model in that location', () => {
    const config = parseEmulatorConfig({
      shared_capacity: {
        'us-central1': {
          [MODEL]: [
            { at: '0s', in_flight: 3 },
            { at: '20s', in_flight: 1 },
            { at: '40s', rps: 2 },
          ],
        },
      },
    });
    const spec = config.shared_capacity['us-central1']?.[MODEL];
    if (!spec) throw new Error('schedule not parsed');
    expect(limitAt(spec, 19_999)).toEqual({ in_flight: 3 });
    expect(limitAt(spec, 20_000)).toEqual({ in_flight: 1 });
    expect(limitAt(spec, 45_000)).toEqual({ rps: 2 });

    const pool = new SharedCapacity();
    const t0 = 1_000_000;
    const held = [0, 1, 2].map((i) => pool.admit('us-central1', MODEL, spec, t0 + i));
    expect(held.every((a) => a.kind === 'ok')).toBe(true);
    expect(pool.admit('us-central1', MODEL, spec, t0 + 10).kind).toBe('refused');
    for (const a of held) if (a.kind === 'ok') a.release();
    // 20 s in, one call at a time.
    expect(pool.admit('us-central1', MODEL, spec, t0 + 20_000).kind).toBe('ok');
    expect(pool.admit('us-central1', MODEL, spec, t0 + 20_001)).toEqual({ kind: 'refused', limit: { in_flight: 1 } });
    expect(pool.snapshot(t0 + 41_000)['us-central1']?.[MODEL]?.limit).toEqual({ rps: 2 });
  });

  it('applies named capacities to every Vertex project, and the default only to Gemini models with no declared quota', () => {
    const config = parseEmulatorConfig({
      projects: { fixed: { rpm: 10 }, 'fixed-model': { models: { [MODEL]: { requests: 5, window: '1s' } } } },
      shared_capacity: { global: { '*': { in_flight: 8 } }, '*': { 'imagen-4.0-generate-001': { rps: 1 } } },
    });
    expect(capacityFor(config, 'vertex', 'any', 'us-central1', MODEL)).toEqual({ in_flight: DEFAULT_SHARED_IN_FLIGHT });
    expect(capacityFor(config, 'vertex', 'any', 'global', MODEL)).toEqual({ in_flight: 8 });
    expect(capacityFor(config, 'vertex', 'fixed', 'global', MODEL)).toEqual({ in_flight: 8 });
    expect(capacityFor(config, 'vertex', 'fixed', 'us-central1', MODEL)).toBeUndefined();
    expect(capacityFor(config, 'vertex', 'fixed-model', 'us-central1', MODEL)).toBeUndefined();
    expect(capacityFor(config, 'vertex', 'fixed-model', 'us-central1', 'gemini-2.5-pro')).toEqual({ in_flight: DEFAULT_SHARED_IN_FLIGHT });
    expect(capacityFor(config, 'vertex', 'any', 'us-central1', 'imagen-4.0-generate-001')).toEqual({ rps: 1 });
    expect(capacityFor(config, 'vertex', 'any', 'us-central1', 'text-embedding-005')).toBeUndefined();
    expect(capacityFor(config, 'gemini', 'any', 'global', MODEL)).toBeUndefined();
  });

  it('refuses a malformed capacity with its key path and the accepted shapes', () => {
    expect(() => parseEmulatorConfig({ shared_capacity: { 'us-central1': { [MODEL]: { inflight: 8 } } } }, 'emu.yaml')).toThrow(
      /emu\.yaml: shared_capacity\.us-central1\.gemini-2\.5-flash: expected \{ in_flight: N \}, \{ rps: N \} or a list of steps/,
    );
    expect(() => parseEmulatorConfig({ shared_capacity: { global: { [MODEL]: { rps: -1 } } } })).toThrow(
      /shared_capacity\.global\.gemini-2\.5-flash\.rps: Too small/,
    );
    // 0 is a capacity: none left (every call refused), as a saturated region.
    expect(() => parseEmulatorConfig({ shared_capacity: { global: { [MODEL]: { in_flight: 0 } } } })).not.toThrow();
    expect(() =>
      parseEmulatorConfig({
        shared_capacity: {
          global: {
            [MODEL]: [
              { at: '20s', in_flight: 3 },
              { at: '0s', in_flight: 8 },
            ],
          },
        },
      }),
    ).toThrow(/shared_capacity\.global\.gemini-2\.5-flash\[1\]\.at: steps go in the order of `at`/);
  });
});

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('emulator shared capacity through the SDK', () => {
  const t = useResetEmulator({
    latency_ms: 400,
    shared_capacity: { 'us-central1': { [MODEL]: { in_flight: 2 } } },
  });
  const ask = { model: MODEL, contents: 'hello', config: { thinkingConfig: { thinkingBudget: 0 } } };

  it('answers any project with the bare 429 once the calls in flight reach the capacity, and counts it per location and model', async () => {
    t.emu.setConfig(parseEmulatorConfig({ latency_ms: 400, shared_capacity: { 'us-central1': { [MODEL]: { in_flight: 2 } } } }));
    const holding = [t.client('alpha').models.generateContent(ask), t.client('alpha').models.generateContent(ask)];
    await vi.waitFor(() => expect(t.stats().shared_capacity?.['us-central1']?.[MODEL]?.in_flight).toBe(2), { timeout: 2000, interval: 5 });

    for (const project of ['beta', 'gamma']) {
      const error = await failure(t.client(project).models.generateContent(ask));
      expect(error.status).toBe(429);
      expect(JSON.parse(error.message)).toEqual(BARE_429);
    }
    // Over plain HTTP: the same body and no Retry-After header.
    const raw = await fetch(`${t.url}/v1beta1/projects/delta/locations/us-central1/publishers/google/models/${MODEL}:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBeNull();
    expect(await raw.json()).toEqual(BARE_429);

    // The global endpoint is another location, with capacity of its own (the default).
    const viaGlobal = await vertexClient(t.url, 'beta', 'global').models.generateContent(ask);
    expect(viaGlobal.text).toBeTruthy();

    await Promise.all(holding);
    expect((await t.client('beta').models.generateContent(ask)).text).toBeTruthy();

    const stats = await t.fetchStats();
    expect(stats.projects.beta?.rejected_429).toBe(1);
    expect(stats.projects.gamma?.rejected_429).toBe(1);
    expect(stats.projects.alpha?.ok).toBe(2);
    expect(stats.shared_capacity?.['us-central1']?.[MODEL]).toMatchObject({
      limit: { in_flight: 2 },
      in_flight: 0,
      peak_in_flight: 2,
      admitted: 3,
      rejected_429: 3,
    });
    expect(stats.shared_capacity?.global?.[MODEL]).toMatchObject({ limit: { in_flight: DEFAULT_SHARED_IN_FLIGHT }, admitted: 1, rejected_429: 0 });
  });
});
