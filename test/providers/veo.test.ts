import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { InvalidRequestError } from '../../src/errors/provider-errors.js';
import type { ProviderRequest } from '../../src/providers/provider.js';
import { pollVideo, startVideo, VeoProvider } from '../../src/providers/veo.js';
import { startTestEmulator, vertexClient, type TestEmulator } from '../helpers/emulator-client.js';

const VIDEO_MS = 150;

function request(prompt: string, params: Record<string, unknown> = {}): ProviderRequest {
  return { task: 'video', model: 'veo-3.0-generate-001', prompt, params };
}

describe('Veo provider against the emulator', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator({ video_ms: VIDEO_MS });
  });
  afterAll(() => t.close());

  it('polls, from a second client, an operation it knows only by name', async () => {
    // The emulator (in this process) finishes the operation once video_ms has passed on Date.now: a fake Date lets it pass without sleeping.
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const name = await startVideo(t.client(), request('waves at dusk', { duration_seconds: 6 }));
    // A resumed process: a new client instance, nothing kept but the checkpointed name.
    const other = vertexClient(t.url, 'test-project');
    expect(await pollVideo(other, name)).toEqual({ done: false });
    vi.advanceTimersByTime(VIDEO_MS);
    const status = await pollVideo(other, name, request('waves at dusk', { duration_seconds: 6 }));
    expect(status.done).toBe(true);
    const video = status.result?.media?.[0];
    expect(video?.mimeType).toBe('video/mp4');
    expect(video?.data.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(status.result?.usage.videoSeconds).toBe(6);
    expect(t.stats().projects['test-project']?.videos_seconds).toBe(6);
  });

  it('call() starts and polls until done; storage_uri gives a URI instead of bytes', async () => {
    const provider = new VeoProvider({ firstMs: 50, factor: 1.5, maxMs: 100 });
    const result = await provider.call(t.client(), request('a fox', { storage_uri: 'gs://bucket/out', sample_count: 2 }));
    expect(result.media).toHaveLength(2);
    expect(result.media?.[0]?.uri).toMatch(/^gs:\/\/bucket\/out\/[0-9a-f-]+\/sample_0\.mp4$/);
    expect(result.usage.videoSeconds).toBe(16);
  });

  it('returns filtered for a blocked prompt and an invalid request for an unknown operation', async () => {
    const provider = new VeoProvider({ firstMs: 50, maxMs: 100 });
    const result = await provider.call(t.client(), request('scene [unsafe]'));
    expect(result.filtered?.reason).toMatch(/safety filters/);
    const unknown = 'projects/test-project/locations/us-central1/publishers/google/models/veo-3.0-generate-001/operations/nope';
    await expect(pollVideo(t.client(), unknown)).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('stops polling when the caller aborts', async () => {
    const controller = new AbortController();
    const provider = new VeoProvider({ firstMs: 5_000 });
    const pending = provider.call(t.client(), { ...request('slow one'), signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'OUTCOME_UNKNOWN' });
  });
});
