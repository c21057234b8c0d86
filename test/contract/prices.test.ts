import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/credentials/credentials.js';
import { callRecord } from '../../src/engine/executors/call-record.js';
import { CloudObjects } from '../../src/engine/executors/cloud-objects.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { batchResultOf } from '../../src/providers/gemini-batch.js';
import { providerFor } from '../../src/providers/provider-registry.js';
import type { ProviderRequest, ProviderResult, TaskKind } from '../../src/providers/provider.js';
import { videoWithAudio } from '../../src/providers/veo-limits.js';
import { pollVideo } from '../../src/providers/veo.js';
import { StateStore } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Prices as Google bills them, from reply shapes written by hand from Google's documentation
 * (fixtures/prices/README.md): the real providers read each reply through the real SDK (a local
 * server replays the fixture), the call's ledger row goes into a real state file, and what the
 * ledger holds must equal the list price of the reply, to the micro-dollar.
 */

const FIXTURES = join(import.meta.dirname, 'fixtures', 'prices');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const catalog = PriceCatalog.load();
const tempDir = useTempDir();

/** The video object Veo wrote to Cloud Storage (its bytes stand for an MP4). */
const VIDEO = Buffer.from('\x00\x00\x00\x18ftypmp42-contract-video-bytes', 'latin1');

/** Replays one fixture per method, and serves the Veo object on the Cloud Storage download path. */
let replies: Record<string, unknown> = {};
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    req.resume();
    if (path.startsWith('/storage/v1/b/clips-bucket/o/') && path.includes('alt=media')) {
      const name = decodeURIComponent(path.slice('/storage/v1/b/clips-bucket/o/'.length).split('?')[0] ?? '');
      if (name !== 'veo/a1b2c3d4/sample_0.mp4') {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 404, message: `No such object: clips-bucket/${name}` } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': VIDEO.length }).end(VIDEO);
      return;
    }
    const method = /:(\w+)(\?|$)/.exec(path)?.[1] ?? '';
    const reply = replies[method];
    if (reply === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 404, message: path, status: 'NOT_FOUND' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const client = (): GoogleGenAI => new GoogleGenAI({ vertexai: true, project: 'studio', location: 'us-central1', apiKey: 'k', httpOptions: { baseUrl: url } });

function request(task: TaskKind, model: string, params: Record<string, unknown> = {}, texts?: string[]): ProviderRequest {
  return { task, model, prompt: 'a prompt', params, ...(texts ? { texts } : {}), maxOutputTokens: 4096, thinkingBudget: 1024 };
}

/** The call's ledger row, written to and read back from a real state file; its cost and what `genbatch cost` groups. */
function ledgerOf(model: string, result: ProviderResult, costUsd: number) {
  const store = StateStore.open(join(tempDir(), 'job.db'));
  try {
    store.recordCall(
      callRecord({ runId: 'r1', itemId: 'a', step: 's', project: 'studio', model, httpStatus: 200, usage: result.usage, costUsd, durationMs: 5 }),
    );
    const row = store.ledger.costRows()[0];
    if (!row) throw new Error('no ledger row');
    return row;
  } finally {
    store.close();
  }
}

/** Equal to the micro-dollar, and computed from the same rates to well below it. */
function expectUsd(actual: number, expected: number): void {
  expect(Math.round(actual * 1e6)).toBe(Math.round(expected * 1e6));
  expect(actual).toBeCloseTo(expected, 9);
}

describe('contract: Gemini usageMetadata as Vertex bills it', () => {
  it('cached input tokens (part of promptTokenCount) cost the cached price; thinking the output price', async () => {
    replies = { generateContent: fixture('generate-content-cached.json') };
    const result = await providerFor('text', 'gemini-2.5-flash').call(client(), request('text', 'gemini-2.5-flash'));
    expect(result.usage).toMatchObject({ inputTokens: 12000, cachedTokens: 10240, outputTokens: 350, thoughtsTokens: 820, trafficType: 'ON_DEMAND' });
    const cost = catalog.cost('gemini-2.5-flash', result.usage);
    // 1,760 uncached input at $0.30/M, 10,240 cached at $0.03/M, 350 + 820 output at $2.50/M.
    const listPrice = (1760 * 0.3 + 10240 * 0.03 + 1170 * 2.5) / 1e6;
    expectUsd(cost, listPrice);
    const row = ledgerOf('gemini-2.5-flash', result, cost);
    expect(row).toMatchObject({ input_tokens: 12000, cached_tokens: 10240, output_tokens: 1170, provisioned: 0 });
    expectUsd(row.cost_usd, 0.0037602);
  });

  it('a PROVISIONED_THROUGHPUT call is recorded with its traffic type at $0 marginal cost, on a row of its own', async () => {
    replies = { generateContent: fixture('generate-content-provisioned.json') };
    const result = await providerFor('text', 'gemini-2.5-flash').call(client(), request('text', 'gemini-2.5-flash'));
    expect(result.usage.trafficType).toBe('PROVISIONED_THROUGHPUT');
    const cost = catalog.cost('gemini-2.5-flash', result.usage);
    expect(cost).toBe(0);
    const row = ledgerOf('gemini-2.5-flash', result, cost);
    expect(row).toMatchObject({ calls: 1, input_tokens: 900, output_tokens: 460, provisioned: 1, cost_usd: 0 });
    // The same usage on demand would have cost this much: the reservation, not the ledger, pays it.
    expect(catalog.cost('gemini-2.5-flash', { ...result.usage, trafficType: 'ON_DEMAND' })).toBeGreaterThan(0);
  });

  it('above 200K input tokens, gemini-2.5-pro prices cached tokens at its long-context cached price', async () => {
    replies = { generateContent: fixture('generate-content-long-cached.json') };
    const result = await providerFor('text', 'gemini-2.5-pro').call(client(), request('text', 'gemini-2.5-pro'));
    const cost = catalog.cost('gemini-2.5-pro', result.usage);
    // 50,000 uncached at $2.50/M, 200,000 cached at $0.25/M, 1,000 output at $15/M.
    expectUsd(cost, (50_000 * 2.5 + 200_000 * 0.25 + 1000 * 15) / 1e6);
    expectUsd(ledgerOf('gemini-2.5-pro', result, cost).cost_usd, 0.19);
  });

  it('a batch output line: the batch discount applies to all but cached tokens, which cost the cached price (it does not stack)', () => {
    const line = fixture('batch-line-cached.json') as { response: unknown };
    const result = batchResultOf(line.response, request('text', 'gemini-2.5-flash'));
    expect(result.usage.cachedTokens).toBe(10240);
    const cost = catalog.batchCost('gemini-2.5-flash', result.usage);
    expectUsd(cost, ((1760 * 0.3 + 1170 * 2.5) * 0.5 + 10240 * 0.03) / 1e6);
    expectUsd(ledgerOf('gemini-2.5-flash', result, cost).cost_usd, 0.0020337);
  });
});

describe('contract: media and embeddings replies', () => {
  it('Imagen: the trailing "Positive Prompt" safety-attributes prediction is not an image and not billed', async () => {
    replies = { predict: fixture('imagen-safety-attributes.json') };
    const result = await providerFor('image', 'imagen-4.0-generate-001').call(client(), request('image', 'imagen-4.0-generate-001', { sample_count: 2 }));
    expect(result.media).toHaveLength(2);
    for (const image of result.media ?? []) expect(image.data.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(result.usage.images).toBe(2);
    const cost = catalog.cost('imagen-4.0-generate-001', result.usage);
    expectUsd(ledgerOf('imagen-4.0-generate-001', result, cost).cost_usd, 0.08);
  });

  it('text embeddings :predict: billed by metadata.billableCharacterCount, tokens from statistics.token_count', async () => {
    replies = { predict: fixture('embeddings-predict.json') };
    const result = await providerFor('embedding', 'text-embedding-005').call(
      client(),
      request('embedding', 'text-embedding-005', {}, ['first text', 'second text']),
    );
    expect(result.vectors).toHaveLength(2);
    expect(result.usage).toMatchObject({ inputTokens: 16, characters: 1820 });
    expect(result.usage.countedByGenbatch).toBeUndefined();
    const cost = catalog.cost('text-embedding-005', result.usage);
    expectUsd(ledgerOf('text-embedding-005', result, cost).cost_usd, 1.82 * 0.000025);
  });

  it('Veo with storageUri: the gcsUri is read through the storage client; billed 8 s with audio (generate_audio left out)', async () => {
    replies = { fetchPredictOperation: fixture('veo-operation-gcs.json') };
    const veoRequest = request('video', 'veo-3.0-generate-001', { storage_uri: 'gs://clips-bucket/veo' });
    const status = await pollVideo(
      client(),
      'projects/studio/locations/us-central1/publishers/google/models/veo-3.0-generate-001/operations/a1b2c3d4-0000-4000-8000-000000000001',
      veoRequest,
    );
    const media = status.result?.media?.[0];
    expect(media).toMatchObject({ uri: 'gs://clips-bucket/veo/a1b2c3d4/sample_0.mp4', mimeType: 'video/mp4' });
    expect(media?.data.length).toBe(0);
    const credentials = {
      file: 'c.yaml',
      strategy: 'round-robin',
      projects: [
        {
          name: 'studio',
          project: 'studio',
          location: 'us-central1',
          auth: { kind: 'api_key', apiKey: 'k', source: 'file' },
          endpoint: url,
          quotas: {},
          pool: 'default',
          enabled: true,
        },
      ],
    } as unknown as Credentials;
    const objects = new CloudObjects(() => credentials);
    expect(await objects.read('studio', media?.uri ?? '')).toEqual(VIDEO);
    await expect(objects.read('studio', 'gs://clips-bucket/veo/other/sample_0.mp4')).rejects.toThrow(/No such object/);
    const result = status.result as ProviderResult;
    expect(videoWithAudio('veo-3.0-generate-001', veoRequest.params)).toBe(true);
    const cost = catalog.cost('veo-3.0-generate-001', result.usage, { withAudio: true });
    expectUsd(ledgerOf('veo-3.0-generate-001', result, cost).cost_usd, 8 * 0.4);
  });
});
