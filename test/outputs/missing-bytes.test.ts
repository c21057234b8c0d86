import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/credentials/credentials.js';
import { CloudObjects } from '../../src/engine/executors/cloud-objects.js';
import { MissingOutputBytesError, writeStepOutputs } from '../../src/engine/write-outputs.js';
import type { Job, Step } from '../../src/job/job.js';
import { AtomicWriter } from '../../src/outputs/atomic-write.js';
import { useResetEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * No output without its bytes. Veo with storage_uri returns only gs:// URIs; genbatch wrote a 0-byte
 * file and marked the step done. Now the object is read from Cloud Storage, and a media item that has
 * no bytes (absent, empty, unreadable) is refused where outputs are written.
 */

const tempDir = useTempDir();

function videoJob(dir: string): { job: Job; step: Step } {
  const step = { name: 'clip', task: 'video', model: 'veo-3.0-generate-001', params: {} } as unknown as Step;
  const job = { dir, outputDir: join(dir, 'out'), steps: [step] } as unknown as Job;
  return { job, step };
}

describe('the output guard', () => {
  it('refuses a video without bytes, names its gs:// URI and why it was unreadable, and writes nothing', async () => {
    const dir = tempDir();
    const { job, step } = videoJob(dir);
    const writer = new AtomicWriter(join(dir, 'scratch'));
    const result = {
      media: [{ mimeType: 'video/mp4', data: Buffer.alloc(0), uri: 'gs://clips/veo/1/sample_0.mp4', unreadable: 'No such object: clips/veo/1/sample_0.mp4' }],
      usage: { inputTokens: 0, outputTokens: 0, thoughtsTokens: 0, images: 0, videoSeconds: 8, characters: 0, cachedTokens: 0 },
    };
    const written = writeStepOutputs(job, step, 'a', 'videos/a.mp4', [], result, writer);
    await expect(written).rejects.toBeInstanceOf(MissingOutputBytesError);
    await expect(written).rejects.toThrow(/video 1 of 1 came back without its bytes \(gs:\/\/clips\/veo\/1\/sample_0\.mp4: No such object/);
    expect(existsSync(join(dir, 'out', 'videos', 'a.mp4'))).toBe(false);
  });
});

describe('CloudObjects (the real @google-cloud/storage client against the emulator)', () => {
  const t = useResetEmulator({});
  const credentials = (): Credentials =>
    ({
      file: 'credentials.yaml',
      strategy: 'round-robin',
      projects: [
        {
          name: 'studio',
          project: 'studio',
          location: 'us-central1',
          auth: { kind: 'api_key', apiKey: 'k' },
          endpoint: t.url,
          quotas: {},
          pool: 'default',
          enabled: true,
        },
      ],
    }) as unknown as Credentials;

  async function upload(name: string, body: Buffer): Promise<void> {
    const url = `${t.url}/upload/storage/v1/b/clips/o?uploadType=media&name=${encodeURIComponent(name)}`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body });
    expect(res.status).toBe(200);
  }

  it('reads an object, and refuses an absent or a 0-byte one', async () => {
    const objects = new CloudObjects(credentials);
    await upload('veo/full.mp4', Buffer.from('0000ftypisom-video-bytes'));
    await upload('veo/empty.mp4', Buffer.alloc(0));
    expect((await objects.read('studio', 'gs://clips/veo/full.mp4')).toString()).toBe('0000ftypisom-video-bytes');
    await expect(objects.read('studio', 'gs://clips/veo/empty.mp4')).rejects.toThrow(/is empty \(0 bytes\)/);
    await expect(objects.read('studio', 'gs://clips/veo/absent.mp4')).rejects.toThrow(/No such object|not found/i);
  });
});
