import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GoogleGenAI } from '@google/genai';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { writeFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.js';
import { posts } from '../helpers/job-fixture.js';
import { apiError } from '../helpers/emulator-client.js';
import { writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { useTaskJobs } from './task-job.js';

/**
 * Embedding requests within Vertex's limits, and embeddings priced where the API reports no tokens.
 * text-embedding-005 takes at most 250 texts and 20,000 tokens per request: batch_size split only by
 * texts, so 30 long texts went out as one request Vertex refuses. The Gemini API's batchEmbedContents
 * returns no token counts: 50 texts cost $0 in the ledger and max_usd did not hold them.
 */

const taskJob = useTaskJobs();
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** About 1,200 tokens to the emulator (and about 1,800 to genbatch's bound): 30 of them are 36,000. */
const LONG = 'lorem, '.repeat(600);

describe('embedding requests within 20,000 tokens', () => {
  it('the emulator refuses a text-embedding-005 request above 20,000 tokens with a 400, as Vertex does', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
    const client = new GoogleGenAI({ vertexai: true, project: 'p1', location: 'us-central1', apiKey: 'k', httpOptions: { baseUrl: emulator.url } });
    const error = await apiError(client.models.embedContent({ model: 'text-embedding-005', contents: Array.from({ length: 20 }, () => LONG) }));
    expect(error.status).toBe(400);
    expect(error.body).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(String(error.body.message)).toMatch(/input token count is 24000 but text-embedding-005 only supports up to 20000 tokens per request/);
    // 16 such texts (19,200 tokens) are one request it takes.
    const ok = await client.models.embedContent({ model: 'text-embedding-005', contents: Array.from({ length: 16 }, () => LONG) });
    expect(ok.embeddings).toHaveLength(16);
  });

  it('genbatch splits a batch_size of 250 by tokens: every request is accepted and every item done', async () => {
    const rows = posts(30).map((p) => ({ ...p, meta_description: LONG }));
    const steps = `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{meta_description}}"
    batch_size: 250
    output: { file: "embeddings/posts.jsonl" }
`;
    const t = await taskJob({ rows, steps });
    const run = await t.run();
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    expect((await t.status()).counts).toMatchObject({ done: 30, failed: 0 });
    const log = t.emulator.log().filter((e) => e.model === 'text-embedding-005');
    expect(log.every((e) => e.status === 200)).toBe(true);
    // 36,000 tokens cannot go in fewer than 2 requests; genbatch's bound (never under Google's count) makes it 3.
    expect(log.length).toBeGreaterThanOrEqual(2);
    expect(log.length).toBeLessThanOrEqual(4);
  });
});

describe('Gemini API embeddings (no token counts in the reply)', () => {
  const KEY = 'AIzaSyEmbeddingCostTest-0123456789abcdef';

  function geminiJob(dir: string, endpoint: string, items: number, extra = ''): string {
    writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: studio, api: gemini, api_key_env: STUDIO_KEY, endpoint: "${endpoint}" }\n`);
    return writeJob(dir, {
      items,
      steps: `  - name: embed
    task: embedding
    model: gemini-embedding-001
    prompt: "{{title}}. {{meta_description}}"
    output: { file: "embeddings/posts.jsonl" }
`,
      limits: '{ concurrency: 2 }',
      extra,
    });
  }

  it('are counted by genbatch, priced above $0, and marked counted_by_genbatch in the ledger', async () => {
    const dir = tempDir();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0, api_keys: { [KEY]: 'studio-project' } }), { port: 0 });
    const job = geminiJob(dir, emulator.url, 50);
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { STUDIO_KEY: KEY } });
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    const db = new Database(join(dir, '.genbatch', 'quota-job.db'), { readonly: true });
    const rows = db.prepare("SELECT input_tokens, counted_by_genbatch, cost_usd FROM ledger WHERE model = 'gemini-embedding-001'").all() as {
      input_tokens: number;
      counted_by_genbatch: number;
      cost_usd: number;
    }[];
    db.close();
    expect(rows).toHaveLength(50);
    // Never under what Google reads (the emulator's count), priced at $0.15 per 1M input tokens.
    const served = emulator.stats().projects['studio-project']?.input_tokens ?? 0;
    const counted = rows.reduce((sum, r) => sum + r.input_tokens, 0);
    expect(counted).toBeGreaterThanOrEqual(served);
    for (const r of rows) {
      expect(r.counted_by_genbatch).toBe(1);
      expect(r.cost_usd).toBeCloseTo((r.input_tokens * 0.15) / 1e6, 12);
      expect(r.cost_usd).toBeGreaterThan(0);
    }
  });

  it('max_usd holds them: a cap below their cost stops the run before it is crossed (exit 3)', async () => {
    const dir = tempDir();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0, api_keys: { [KEY]: 'studio-project' } }), { port: 0 });
    // 50 texts of about 2,000 counted tokens: about $0.015 in all; the cap allows about a third.
    const job = geminiJob(dir, emulator.url, 50, 'budget: { max_usd: 0.005 }\n');
    const rows = posts(50).map((p) => ({ ...p, meta_description: 'lorem ipsum dolor '.repeat(110) }));
    const { stringify } = await import('csv-stringify/sync');
    writeFileSync(join(dir, 'posts.csv'), stringify(rows, { header: true }));
    const run = await runCli(['run', job, '--yes', '--plain', '--no-cache'], { env: { STUDIO_KEY: KEY } });
    expect(run.code, run.stderr.slice(-1500)).toBe(3);
    const db = new Database(join(dir, '.genbatch', 'quota-job.db'), { readonly: true });
    const spent = (db.prepare('SELECT sum(cost_usd) AS usd FROM ledger').get() as { usd: number }).usd;
    db.close();
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.005);
    expect(emulator.stats().projects['studio-project']?.ok ?? 0).toBeLessThan(50);
  });
});
