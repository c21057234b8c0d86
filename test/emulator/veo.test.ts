import { GenerateVideosOperation, type ApiError } from '@google/genai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

const VEO = 'veo-3.0-fast-generate-001';
const VIDEO_MS = 150;

function byName(name: string): GenerateVideosOperation {
  const operation = new GenerateVideosOperation();
  operation.name = name;
  return operation;
}

describe('emulator Veo operations through the SDK', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator({ video_ms: VIDEO_MS });
  });
  afterAll(() => t.close());
  // The emulator (in this process) says an operation is done once video_ms has passed on Date.now:
  // a fake Date lets that time pass at once, without sleeping.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts an operation, reports it running, then done with the videos', async () => {
    const started = await t
      .client()
      .models.generateVideos({ model: VEO, source: { prompt: 'waves on a beach' }, config: { durationSeconds: 6, numberOfVideos: 2 } });
    expect(started.name).toMatch(new RegExp(`^projects/test-project/locations/us-central1/publishers/google/models/${VEO}/operations/[0-9a-f-]{36}$`));

    const running = await t.client().operations.getVideosOperation({ operation: byName(started.name ?? '') });
    expect(running.done).toBe(false);
    expect(running.response).toBeUndefined();

    vi.advanceTimersByTime(VIDEO_MS);
    const done = await t.client().operations.getVideosOperation({ operation: byName(started.name ?? '') });
    expect(done.done).toBe(true);
    expect(done.response?.raiMediaFilteredCount).toBe(0);
    const videos = done.response?.generatedVideos ?? [];
    expect(videos).toHaveLength(2);
    const bytes = Buffer.from(videos[0]?.video?.videoBytes ?? '', 'base64');
    expect(videos[0]?.video?.mimeType).toBe('video/mp4');
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(t.stats().projects['test-project']?.by_model[VEO]?.videos_seconds).toBe(12);
  });

  it('returns gcsUri when a storage URI is given', async () => {
    const started = await t.client().models.generateVideos({ model: VEO, source: { prompt: 'a fox' }, config: { outputGcsUri: 'gs://bucket/videos/' } });
    vi.advanceTimersByTime(VIDEO_MS);
    const done = await t.client().operations.getVideosOperation({ operation: byName(started.name ?? '') });
    const id = started.name?.split('/').pop();
    expect(done.response?.generatedVideos?.[0]?.video).toEqual({ uri: `gs://bucket/videos/${id}/sample_0.mp4`, mimeType: 'video/mp4' });
  });

  it('filters a blocked prompt and answers 404 for an unknown operation', async () => {
    const started = await t.client().models.generateVideos({ model: VEO, source: { prompt: 'a scene [unsafe]' } });
    vi.advanceTimersByTime(VIDEO_MS);
    const done = await t.client().operations.getVideosOperation({ operation: byName(started.name ?? '') });
    expect(done.response?.raiMediaFilteredCount).toBe(1);
    expect(done.response?.generatedVideos).toBeUndefined();

    const unknown = `projects/test-project/locations/us-central1/publishers/google/models/${VEO}/operations/00000000-0000-0000-0000-000000000000`;
    const error = await t
      .client()
      .operations.getVideosOperation({ operation: byName(unknown) })
      .catch((e: unknown) => e);
    expect((error as ApiError).status).toBe(404);
    expect(JSON.parse((error as ApiError).message).error.status).toBe('NOT_FOUND');
  });
});
