import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage, type ApiError as StorageApiError } from '@google-cloud/storage';
import type { ApiError, BatchJob, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { parseEmulatorConfig, type EmulatorConfigInput } from '../../src/emulator/index.js';
import { outputOrder } from '../../src/emulator/batch/batch-runner.js';
import { seededRandom } from '../../src/emulator/seeded-random.js';
import { startTestEmulator, TEST_PROJECT, vertexClient, type TestEmulator } from '../helpers/emulator-client.js';

/**
 * Batch prediction against the emulator, driven only by the real clients an engine would use:
 * `@google-cloud/storage` (apiEndpoint pointed at the emulator, no credentials) stages the JSONL and
 * reads the predictions back; `@google/genai` with `vertexai: true` creates, polls, lists, cancels
 * and deletes the jobs. The emulator's stats are the independent count of what was billed.
 */
const MODEL = 'gemini-2.5-flash';
const BUCKET = 'genbatch-staging';
const FINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED']);
/** Keys echoed and input order kept: most tests here follow lines by their key and position (the defaults do neither, see below). */
const KEYED = { echo_key: true, shuffle: false };
const FAST: EmulatorConfigInput['batch'] = { queue_ms: 0, run_ms: 0, cancel_ms: 0, ...KEYED };

interface OutputLine {
  key?: string;
  status: string;
  processed_time: string;
  request: { contents: { parts: { text: string }[] }[] };
  response?: {
    candidates: { content: { parts: { text: string }[] }; finishReason: string }[];
    usageMetadata: { promptTokenCount: number; candidatesTokenCount?: number; thoughtsTokenCount?: number };
  };
}

/** Output tokens a line is billed for: the reply's and the thinking's. */
const outputOf = (u: { candidatesTokenCount?: number; thoughtsTokenCount?: number } | undefined): number =>
  (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0);

function storageFor(url: string): Storage {
  // A custom apiEndpoint makes the client skip authentication: nothing reaches Google.
  return new Storage({ apiEndpoint: url, projectId: TEST_PROJECT });
}

function requestLines(count: number, prefix = 'item'): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ key: `${prefix}-${i}`, request: { contents: [{ role: 'user', parts: [{ text: `Write a line about ${prefix} ${i}.` }] }] } }),
  )
    .map((line) => `${line}\n`)
    .join('');
}

async function apiError(promise: Promise<unknown>): Promise<{ status: number; body: { error: { code: number; message: string; status: string } } }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as ApiError | undefined;
  if (!error) throw new Error('expected the call to fail');
  return { status: error.status, body: JSON.parse(error.message) };
}

/** Polls the job through the SDK until `until` holds, returning every state seen in order. */
async function pollJob(ai: GoogleGenAI, name: string, until: (job: BatchJob) => boolean = (j) => FINAL.has(String(j.state))) {
  const states: string[] = [];
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = await ai.batches.get({ name });
    if (states[states.length - 1] !== job.state) states.push(String(job.state));
    if (until(job)) return { job, states };
    if (Date.now() > deadline) throw new Error(`job ${name} still ${job.state} (${states.join(' → ')})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function readPredictions(storage: Storage, job: BatchJob): Promise<{ files: string[]; lines: OutputLine[] }> {
  const directory = job.outputInfo?.gcsOutputDirectory ?? '';
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(directory);
  if (!match) throw new Error(`no output directory on ${job.name}: ${directory}`);
  const [files] = await storage.bucket(match[1] ?? '').getFiles({ prefix: `${match[2]}/` });
  const lines: OutputLine[] = [];
  for (const file of files) {
    const [bytes] = await file.download();
    lines.push(
      ...bytes
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as OutputLine),
    );
  }
  return { files: files.map((f) => f.name), lines };
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

describe('emulator batch prediction through @google/genai and @google-cloud/storage', () => {
  let t: TestEmulator;
  let storage: Storage;
  let ai: GoogleGenAI;

  beforeAll(async () => {
    t = await startTestEmulator({ seed: 11, batch: FAST });
    storage = storageFor(t.url);
    ai = t.client();
  });
  afterAll(() => t.close());
  beforeEach(() => t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: FAST })));

  async function stage(name: string, text: string): Promise<string> {
    await storage.bucket(BUCKET).file(name).save(text);
    return `gs://${BUCKET}/${name}`;
  }

  async function submit(src: string, opts: { model?: string; dest?: string; client?: GoogleGenAI } = {}): Promise<BatchJob> {
    return (opts.client ?? ai).batches.create({
      model: opts.model ?? MODEL,
      src,
      config: { dest: opts.dest ?? `gs://${BUCKET}/out`, displayName: 'genbatch-test' },
    });
  }

  it('stores objects like Cloud Storage: resumable and multipart uploads, prefix listing, metadata, ranges, preconditions, delete', async () => {
    const bucket = storage.bucket(BUCKET);
    const text = requestLines(3);
    await bucket.file('stage/a.jsonl').save(text); // resumable, the client's default
    await bucket.file('stage/b.jsonl').save(text, { resumable: false, contentType: 'application/jsonl' }); // multipart
    await bucket.file('elsewhere/c.jsonl').save('x', { resumable: false });

    const [listed] = await bucket.getFiles({ prefix: 'stage/' });
    expect(listed.map((f) => f.name)).toEqual(['stage/a.jsonl', 'stage/b.jsonl']);
    const [metadata] = await bucket.file('stage/b.jsonl').getMetadata();
    expect(metadata).toMatchObject({
      name: 'stage/b.jsonl',
      bucket: BUCKET,
      size: String(Buffer.byteLength(text)),
      contentType: 'application/jsonl',
      md5Hash: createHash('md5').update(text).digest('base64'),
    });
    // download() checks the CRC32C the emulator sends in x-goog-hash.
    expect((await bucket.file('stage/a.jsonl').download())[0].toString('utf8')).toBe(text);
    expect((await bucket.file('stage/a.jsonl').download({ start: 2, end: 6 }))[0].toString('utf8')).toBe(text.slice(2, 7));

    const refused = await bucket
      .file('stage/a.jsonl')
      .save('other', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
      .catch((e: unknown) => e);
    expect((refused as StorageApiError).code).toBe(412);

    await bucket.file('stage/a.jsonl').delete();
    expect((await bucket.getFiles({ prefix: 'stage/' }))[0].map((f) => f.name)).toEqual(['stage/b.jsonl']);
    const gone = await bucket
      .file('stage/a.jsonl')
      .download()
      .catch((e: unknown) => e);
    expect((gone as StorageApiError).code).toBe(404);
    expect(String((gone as StorageApiError).message)).toContain(`No such object: ${BUCKET}/stage/a.jsonl`);
  });

  it('resumes an interrupted resumable upload: a status query supersedes the hung PUT and reports the bytes kept', async () => {
    const opened = await fetch(`${t.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable&name=stage%2Fresumed.bin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const session = opened.headers.get('location') ?? '';
    expect(opened.status).toBe(200);
    expect(session).toContain('upload_id=');

    // A PUT that sends 1,000 of its 3,000 bytes, then hangs (a client that lost its connection).
    const hung = request(session, { method: 'PUT', headers: { 'content-range': 'bytes 0-2999/3000', 'content-length': '3000' } });
    const hungDone = new Promise((resolve) => hung.on('error', resolve).on('response', resolve));
    hung.write(Buffer.alloc(1000, 'a'));
    await new Promise((resolve) => setTimeout(resolve, 100));

    const status = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */3000' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-999');
    const rest = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes 1000-2999/3000' }, body: Buffer.alloc(2000, 'b') });
    expect(rest.status).toBe(200);
    expect(await rest.json()).toMatchObject({ name: 'stage/resumed.bin', size: '3000' });
    hung.destroy();
    await hungDone;
    const [bytes] = await storage.bucket(BUCKET).file('stage/resumed.bin').download();
    expect(bytes.toString('latin1')).toBe('a'.repeat(1000) + 'b'.repeat(2000));
  });

  it('moves a job QUEUED → PENDING → RUNNING → SUCCEEDED and writes each line with its key and a generated response', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 600, run_ms: 300, ...KEYED } }));
    const input = requestLines(8);
    const created = await submit(await stage('jobs/states.jsonl', input));
    expect(created.name).toMatch(/^projects\/test-project\/locations\/us-central1\/batchPredictionJobs\/\d{19}$/);
    expect(created.state).toBe('JOB_STATE_QUEUED');
    expect(created.model).toBe(`publishers/google/models/${MODEL}`);
    expect(created.src).toEqual({ format: 'jsonl', gcsUri: [`gs://${BUCKET}/jobs/states.jsonl`] });

    const { job, states } = await pollJob(ai, created.name ?? '');
    expect(states).toEqual(['JOB_STATE_QUEUED', 'JOB_STATE_PENDING', 'JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    expect(job.completionStats).toEqual({ successfulCount: '8', failedCount: '0', incompleteCount: '0' });
    expect(job.outputInfo?.gcsOutputDirectory).toMatch(new RegExp(`^gs://${BUCKET}/out/prediction-model-\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    expect(Date.parse(job.startTime ?? '') - Date.parse(job.createTime ?? '')).toBe(600);
    expect(Date.parse(job.endTime ?? '')).toBeGreaterThanOrEqual(Date.parse(job.startTime ?? '') + 300);

    const { files, lines } = await readPredictions(storage, job);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\/predictions\.jsonl$/);
    const sent = input
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; request: unknown });
    expect(lines.map((l) => l.key)).toEqual(sent.map((s) => s.key));
    for (const [i, line] of lines.entries()) {
      // Echoed as Vertex re-serialises it: the unset member of the part's oneof printed as null.
      expect(line.request).toEqual({ contents: [{ parts: [{ fileData: null, text: `Write a line about item ${i}.` }], role: 'user' }] });
      expect(line.status).toBe('');
      expect(line.response?.candidates[0]?.finishReason).toBe('STOP');
      expect(line.response?.candidates[0]?.content.parts[0]?.text.length).toBeGreaterThan(0);
    }

    // Billed apart from the online counters, from the very usage written in the output.
    const stats = (await t.fetchStats()).projects[TEST_PROJECT];
    expect(stats).toMatchObject({
      requests: 0,
      input_tokens: 0,
      output_tokens: 0,
      batch_jobs: 1,
      batch_requests: 8,
      batch_ok: 8,
      batch_failed: 0,
      batch_input_tokens: sum(lines.map((l) => l.response?.usageMetadata.promptTokenCount ?? 0)),
      // Thinking tokens are billed as output, as on Vertex.
      batch_output_tokens: sum(lines.map((l) => outputOf(l.response?.usageMetadata))),
    });
    expect(stats?.batch_output_tokens).toBeGreaterThan(0);
  });

  it('answers a line as the online generator does for the same prompt (same seed, first ask)', async () => {
    const request = {
      contents: [{ role: 'user', parts: [{ text: 'Describe the same lighthouse.' }] }],
      generation_config: { max_output_tokens: 40, thinking_config: { thinking_budget: 0 } },
    };
    const job = await submit(await stage('jobs/same.jsonl', `${JSON.stringify({ key: 'only', request })}\n`));
    const { lines } = await readPredictions(storage, (await pollJob(ai, job.name ?? '')).job);

    const online = await startTestEmulator({ seed: 11 });
    try {
      const reply = await online.client().models.generateContent({
        model: MODEL,
        contents: 'Describe the same lighthouse.',
        config: { maxOutputTokens: 40, thinkingConfig: { thinkingBudget: 0 } },
      });
      // snake_case fields are read as Vertex reads proto JSON: max_output_tokens applies.
      expect(lines[0]?.response?.candidates[0]?.content.parts[0]?.text).toBe(reply.text);
      expect(lines[0]?.response?.usageMetadata.candidatesTokenCount).toBe(reply.usageMetadata?.candidatesTokenCount);
      expect(lines[0]?.response?.usageMetadata.thoughtsTokenCount).toBe(reply.usageMetadata?.thoughtsTokenCount);
      // Echoed as proto JSON: camelCase names, null for the part's unset oneof member.
      expect(lines[0]?.request).toEqual({
        contents: [{ parts: [{ fileData: null, text: 'Describe the same lighthouse.' }], role: 'user' }],
        generationConfig: { maxOutputTokens: 40, thinkingConfig: { thinkingBudget: 0 } },
      });
    } finally {
      await online.close();
    }
  });

  it('rehearses partial success: a seeded line_fail_rate fails lines with a per-line status, only answered lines are billed', async () => {
    const config = { seed: 11, latency_ms: 0, batch: { ...FAST, line_fail_rate: 0.3 } };
    t.emu.setConfig(parseEmulatorConfig(config));
    const before = (await t.fetchStats()).projects[TEST_PROJECT];
    const src = await stage('jobs/partial.jsonl', requestLines(40, 'partial'));
    const { job } = await pollJob(ai, (await submit(src)).name ?? '');
    expect(job.state).toBe('JOB_STATE_PARTIALLY_SUCCEEDED');
    const { lines } = await readPredictions(storage, job);
    const failed = lines.filter((l) => l.status !== '');
    expect(failed.length).toBeGreaterThan(3);
    expect(failed.length).toBeLessThan(25);
    for (const line of failed) {
      expect(line.response).toBeUndefined();
      expect(line.status).toMatch(/^Internal Server Error: /);
      expect(JSON.parse(line.status.slice('Internal Server Error: '.length))).toEqual({
        error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
      });
    }
    expect(job.completionStats).toEqual({ successfulCount: String(40 - failed.length), failedCount: String(failed.length), incompleteCount: '0' });
    const after = (await t.fetchStats()).projects[TEST_PROJECT];
    const answered = lines.filter((l) => l.response);
    expect((after?.batch_ok ?? 0) - (before?.batch_ok ?? 0)).toBe(answered.length);
    expect((after?.batch_failed ?? 0) - (before?.batch_failed ?? 0)).toBe(failed.length);
    expect((after?.batch_input_tokens ?? 0) - (before?.batch_input_tokens ?? 0)).toBe(
      sum(answered.map((l) => l.response?.usageMetadata.promptTokenCount ?? 0)),
    );
    expect((after?.batch_output_tokens ?? 0) - (before?.batch_output_tokens ?? 0)).toBe(sum(answered.map((l) => outputOf(l.response?.usageMetadata))));

    // Seeded: a fresh emulator with the same seed fails the same lines...
    const again = await startTestEmulator(config);
    try {
      const againStorage = storageFor(again.url);
      await againStorage.bucket(BUCKET).file('p.jsonl').save(requestLines(40, 'partial'));
      const rerun = await pollJob(again.client(), (await submit(`gs://${BUCKET}/p.jsonl`, { client: again.client() })).name ?? '');
      const rerunFailed = (await readPredictions(againStorage, rerun.job)).lines.filter((l) => l.status !== '').map((l) => l.key);
      expect(rerunFailed).toEqual(failed.map((l) => l.key));
    } finally {
      await again.close();
    }
    // ...while resubmitting the failed lines draws again (per ask), so a retry can succeed.
    const retrySrc = await stage('jobs/retry.jsonl', failed.map((l) => `${JSON.stringify({ key: l.key, request: l.request })}\n`).join(''));
    const retried = await readPredictions(storage, (await pollJob(ai, (await submit(retrySrc)).name ?? '')).job);
    expect(retried.lines.filter((l) => l.status === '').length).toBeGreaterThan(0);
  });

  it('runs gemini-2.5-flash-image lines: each response carries a PNG, billed as image output tokens', async () => {
    const before = (await t.fetchStats()).projects[TEST_PROJECT];
    const request = { contents: [{ role: 'user', parts: [{ text: 'A red kite over dunes' }] }], generationConfig: { responseModalities: ['IMAGE'] } };
    const src = await stage('jobs/image.jsonl', `${JSON.stringify({ key: 'kite', request })}\n`);
    const { job } = await pollJob(ai, (await submit(src, { model: 'gemini-2.5-flash-image' })).name ?? '');
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');
    const [line] = (await readPredictions(storage, job)).lines as unknown as {
      response: { candidates: { content: { parts: { inlineData: { mimeType: string; data: string } }[] } }[]; usageMetadata: { candidatesTokenCount: number } };
    }[];
    const image = line?.response.candidates[0]?.content.parts[0]?.inlineData;
    expect(image?.mimeType).toBe('image/png');
    expect(
      Buffer.from(image?.data ?? '', 'base64')
        .subarray(1, 4)
        .toString('latin1'),
    ).toBe('PNG');
    const after = (await t.fetchStats()).projects[TEST_PROJECT];
    expect((after?.batch_output_tokens ?? 0) - (before?.batch_output_tokens ?? 0)).toBe(line?.response.usageMetadata.candidatesTokenCount);
    expect(line?.response.usageMetadata.candidatesTokenCount).toBe(1290);
  });

  it('fails a job whose input object was deleted before it ran', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 200, run_ms: 0 } }));
    const src = await stage('jobs/deleted.jsonl', requestLines(2));
    const created = await submit(src);
    await storage.bucket(BUCKET).file('jobs/deleted.jsonl').delete();
    const { job } = await pollJob(ai, created.name ?? '');
    expect(job.state).toBe('JOB_STATE_FAILED');
    expect(job.error?.message).toContain('the object was deleted');
    expect(job.completionStats).toEqual({ successfulCount: '0', failedCount: '0', incompleteCount: '2' });
  });

  it('answers malformed lines with their own 400 status and keeps the rest', async () => {
    const good = requestLines(2, 'fine').trim().split('\n');
    const src = await stage('jobs/malformed.jsonl', [good[0], '{not json', JSON.stringify({ key: 'no-request', prompt: 'hi' }), good[1], ''].join('\n'));
    const { job } = await pollJob(ai, (await submit(src)).name ?? '');
    expect(job.state).toBe('JOB_STATE_PARTIALLY_SUCCEEDED');
    expect(job.completionStats).toEqual({ successfulCount: '2', failedCount: '2', incompleteCount: '0' });
    const { lines } = await readPredictions(storage, job);
    expect(lines.map((l) => [l.key, l.status === '' ? 'ok' : l.status.split(':')[0]])).toEqual([
      ['fine-0', 'ok'],
      [undefined, 'Bad Request'],
      ['no-request', 'Bad Request'],
      ['fine-1', 'ok'],
    ]);
    expect(lines[2]?.status).toContain('"status":"INVALID_ARGUMENT"');
  });

  it('cancels a running job: RUNNING → CANCELLING → CANCELLED, with only the lines answered before written and billed', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 0, run_ms: 3000, cancel_ms: 400, ...KEYED } }));
    const before = (await t.fetchStats()).projects[TEST_PROJECT];
    const created = await submit(await stage('jobs/cancel.jsonl', requestLines(30, 'cancel')));
    const running = await pollJob(ai, created.name ?? '', (j) => Number(j.completionStats?.successfulCount ?? 0) >= 2);
    expect(running.job.state).toBe('JOB_STATE_RUNNING');

    await ai.batches.cancel({ name: created.name ?? '' });
    const cancelling = await ai.batches.get({ name: created.name ?? '' });
    expect(cancelling.state).toBe('JOB_STATE_CANCELLING');
    const { job, states } = await pollJob(ai, created.name ?? '');
    expect(states).toEqual(['JOB_STATE_CANCELLING', 'JOB_STATE_CANCELLED']);
    expect(job.error).toMatchObject({ code: 1 });
    const answered = Number(job.completionStats?.successfulCount);
    expect(answered).toBeGreaterThanOrEqual(2);
    expect(answered).toBeLessThan(20);
    expect(job.completionStats).toEqual({ successfulCount: String(answered), failedCount: '0', incompleteCount: String(30 - answered) });

    const { lines } = await readPredictions(storage, job);
    expect(lines.map((l) => l.key)).toEqual(Array.from({ length: answered }, (_, i) => `cancel-${i}`));
    // No wait needed to see whether more lines get billed: the runner sets the final state after it counted its last line.
    const after = (await t.fetchStats()).projects[TEST_PROJECT];
    expect((after?.batch_ok ?? 0) - (before?.batch_ok ?? 0)).toBe(answered);
    expect((after?.batch_output_tokens ?? 0) - (before?.batch_output_tokens ?? 0)).toBe(sum(lines.map((l) => outputOf(l.response?.usageMetadata))));

    const again = await apiError(ai.batches.cancel({ name: created.name ?? '' }));
    expect(again.status).toBe(400);
    expect(again.body.error.status).toBe('FAILED_PRECONDITION');
  });

  it('cancels a queued job before it starts: nothing answered, nothing billed', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 60_000, cancel_ms: 50 } }));
    const before = (await t.fetchStats()).projects[TEST_PROJECT];
    const created = await submit(await stage('jobs/cancel-queued.jsonl', requestLines(4, 'never')));
    expect(created.state).toBe('JOB_STATE_QUEUED');
    await ai.batches.cancel({ name: created.name ?? '' });
    const { job, states } = await pollJob(ai, created.name ?? '');
    expect(states).toEqual(['JOB_STATE_CANCELLING', 'JOB_STATE_CANCELLED']);
    expect(job.startTime).toBeUndefined();
    expect(job.outputInfo).toBeUndefined();
    const after = (await t.fetchStats()).projects[TEST_PROJECT];
    expect((after?.batch_requests ?? 0) - (before?.batch_requests ?? 0)).toBe(4);
    expect((after?.batch_ok ?? 0) - (before?.batch_ok ?? 0)).toBe(0);
  });

  it('expires a job that runs past expire_after_ms, keeping the lines answered so far', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 0, run_ms: 2000, expire_after_ms: 450, ...KEYED } }));
    const { job } = await pollJob(ai, (await submit(await stage('jobs/expire.jsonl', requestLines(10, 'late')))).name ?? '');
    expect(job.state).toBe('JOB_STATE_EXPIRED');
    expect(job.error).toMatchObject({ code: 4 });
    const answered = Number(job.completionStats?.successfulCount);
    expect(answered).toBe(2); // lines are due every 200 ms after the start: at 200 and 400 ms, not 600
    expect(job.completionStats?.incompleteCount).toBe('8');
    expect((await readPredictions(storage, job)).lines.map((l) => l.key)).toEqual(['late-0', 'late-1']);
  });

  it('expires queued jobs on POST /_emulator/batch/expire, before they start', async () => {
    t.emu.setConfig(parseEmulatorConfig({ seed: 11, latency_ms: 0, batch: { queue_ms: 60_000 } }));
    const before = (await t.fetchStats()).projects[TEST_PROJECT];
    const created = await submit(await stage('jobs/queued.jsonl', requestLines(3, 'queued')));
    const answer = await fetch(`${t.url}/_emulator/batch/expire`, { method: 'POST', body: JSON.stringify({ name: created.name }) });
    expect(await answer.json()).toEqual({ expired: [created.name] });
    const { job } = await pollJob(ai, created.name ?? '');
    expect(job.state).toBe('JOB_STATE_EXPIRED');
    expect(job.startTime).toBeUndefined();
    expect(job.completionStats).toBeUndefined();
    const after = (await t.fetchStats()).projects[TEST_PROJECT];
    expect((after?.batch_requests ?? 0) - (before?.batch_requests ?? 0)).toBe(3);
    expect((after?.batch_ok ?? 0) - (before?.batch_ok ?? 0)).toBe(0);
  });

  it('shows a job only to the project and location that created it, and answers unknown jobs 404', async () => {
    const created = await submit(await stage('jobs/mine.jsonl', requestLines(1)));
    const id = created.name?.split('/').pop() ?? '';
    for (const other of [t.client('other-project'), vertexClient(t.url, TEST_PROJECT, 'europe-west4')]) {
      const error = await apiError(other.batches.get({ name: id }));
      expect(error.status).toBe(404);
      expect(error.body.error.status).toBe('NOT_FOUND');
      expect((await other.batches.list()).page.map((j) => j.name)).not.toContain(created.name);
    }
    const unknown = await apiError(ai.batches.get({ name: 'projects/test-project/locations/us-central1/batchPredictionJobs/1234567890123456789' }));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('batchPredictionJobs/1234567890123456789 does not exist');
  });

  it('refuses what Vertex refuses: Imagen and Veo, unknown models, too many requests, missing input, no credentials, denied projects', async () => {
    const src = await stage('jobs/five.jsonl', requestLines(5));
    for (const model of ['imagen-4.0-generate-001', 'veo-3.0-fast-generate-001']) {
      const error = await apiError(submit(src, { model }));
      expect(error.status).toBe(400);
      expect(error.body.error).toMatchObject({ status: 'INVALID_ARGUMENT', message: expect.stringContaining(`${model} does not support batch prediction`) });
    }
    const unknown = await apiError(submit(src, { model: 'text-bison-nonsense' }));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('Publisher Model');
    t.emu.setConfig(parseEmulatorConfig({ latency_ms: 0, batch: { ...FAST, max_requests: 4 } }));
    const tooMany = await apiError(submit(src));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('has 5 requests; a batch prediction job takes at most 4');
    const missing = await apiError(submit(`gs://${BUCKET}/jobs/nothing-here.jsonl`));
    expect(missing.body.error).toMatchObject({
      code: 400,
      message: `Input file gs://${BUCKET}/jobs/nothing-here.jsonl does not exist (no such object in Cloud Storage).`,
    });

    const anonymous = await fetch(`${t.url}/v1beta1/projects/${TEST_PROJECT}/locations/us-central1/batchPredictionJobs`);
    expect(anonymous.status).toBe(401);
    t.emu.setConfig(parseEmulatorConfig({ latency_ms: 0, projects: { revoked: { deny: true } } }));
    const denied = await apiError(submit(src, { client: t.client('revoked') }));
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain("Permission 'aiplatform.batchPredictionJobs.create' denied");
    expect((await t.fetchStats()).projects.revoked).toBeUndefined();
  });

  it('lists jobs newest first with pages and a state filter, and deletes only finished jobs', async () => {
    const lister = t.client('lister');
    const src = await stage('jobs/list.jsonl', requestLines(1));
    const done = await pollJob(lister, (await submit(src, { client: lister })).name ?? '');
    t.emu.setConfig(parseEmulatorConfig({ latency_ms: 0, batch: { queue_ms: 60_000 } }));
    // Both created in the same millisecond (the clock is held still): the later one still lists first.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    let waiting: BatchJob[];
    try {
      waiting = [await submit(src, { client: lister }), await submit(src, { client: lister })];
    } finally {
      vi.useRealTimers();
    }
    expect(waiting[0]?.createTime).toBe(waiting[1]?.createTime);

    const names: string[] = [];
    const pager = await lister.batches.list({ config: { pageSize: 2 } });
    for await (const job of pager) names.push(job.name ?? '');
    expect(names).toEqual([waiting[1]?.name, waiting[0]?.name, done.job.name]);
    const queued = await lister.batches.list({ config: { filter: 'state="JOB_STATE_QUEUED"' } });
    expect(queued.page.map((j) => j.name).sort()).toEqual(waiting.map((j) => j.name).sort());

    const refused = await apiError(lister.batches.delete({ name: waiting[0]?.name ?? '' }));
    expect(refused.body.error.status).toBe('FAILED_PRECONDITION');
    const deleted = await lister.batches.delete({ name: done.job.name ?? '' });
    expect(deleted.done).toBe(true);
    expect((await apiError(lister.batches.get({ name: done.job.name ?? '' }))).status).toBe(404);
  });

  it('shuffles every block of two or more lines into another order, the same for the same seed', () => {
    for (const size of [2, 3, 10]) {
      const lines = Array.from({ length: size }, (_, i) => `line ${i}`);
      for (let seed = 0; seed < 20; seed++) {
        const order = outputOrder(lines, true, seededRandom(seed));
        expect(order).not.toEqual(lines);
        expect([...order].sort()).toEqual([...lines].sort());
        expect(outputOrder(lines, true, seededRandom(seed))).toEqual(order);
      }
      expect(outputOrder(lines, false, seededRandom(1))).toEqual(lines);
    }
  });

  it('refuses a bad batch config with the key path and the nearest key', () => {
    expect(() => parseEmulatorConfig({ batch: { queue_m: 10 } }, 'emulator.yaml')).toThrow(ConfigError);
    expect(() => parseEmulatorConfig({ batch: { queue_m: 10 } }, 'emulator.yaml')).toThrow(
      /emulator\.yaml: batch\.queue_m: unknown key "queue_m"; did you mean "queue_ms"\?/,
    );
    expect(() => parseEmulatorConfig({ batch: { line_fail_rate: 3 } })).toThrow(/batch\.line_fail_rate: expected a share between 0 and 1/);
    expect(parseEmulatorConfig({}).batch).toEqual({
      queue_ms: 500,
      run_ms: 2000,
      cancel_ms: 200,
      max_requests: 200_000,
      max_input_bytes: 1_000_000_000,
      line_fail_rate: 0,
      echo_key: false,
      shuffle: true,
    });
  });

  it('by default writes lines as Google documents them: no key, a re-serialised request, another order, the same for the same seed', async () => {
    const defaults = { seed: 11, latency_ms: 0, batch: { queue_ms: 0, run_ms: 0, cancel_ms: 0 } };
    t.emu.setConfig(parseEmulatorConfig(defaults));
    const input = requestLines(40, 'plain');
    const src = await stage('jobs/plain.jsonl', input);
    const first = (await readPredictions(storage, (await pollJob(ai, (await submit(src)).name ?? '')).job)).lines;
    expect(first).toHaveLength(40);
    for (const line of first) expect(Object.keys(line).sort()).toEqual(['processed_time', 'request', 'response', 'status']);
    const asked = (line: OutputLine): string => line.request.contents[0]?.parts[0]?.text ?? '';
    const sentOrder = Array.from({ length: 40 }, (_, i) => `Write a line about plain ${i}.`);
    expect(first.map(asked)).not.toEqual(sentOrder);
    expect([...first.map(asked)].sort()).toEqual([...sentOrder].sort());
    // Reproducible: the same seed and input give the same order.
    const again = (await readPredictions(storage, (await pollJob(ai, (await submit(src, { dest: `gs://${BUCKET}/again` })).name ?? '')).job)).lines;
    expect(again.map(asked)).toEqual(first.map(asked));
  });
});

describe('emulator storage with big objects', () => {
  // The emulator runs in this process: its spill folders carry this pid.
  const spillDirs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith(`genbatch-emulator-gcs-${process.pid}-`));

  it('spills an object above 8 MiB to a temporary file, streams it back intact and removes the file on close', async () => {
    const t = await startTestEmulator({ batch: FAST });
    const before = new Set(spillDirs());
    try {
      const file = storageFor(t.url).bucket(BUCKET).file('big/input.bin');
      const bytes = Buffer.alloc(12 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(i, i);
      await file.save(bytes, { chunkSize: 4 * 1024 * 1024 }); // a chunked resumable upload: 308s, then the object
      const spilled = spillDirs().filter((d) => !before.has(d));
      expect(spilled).toHaveLength(1);
      const folder = join(tmpdir(), spilled[0] ?? '');
      expect(readdirSync(folder).map((name) => statSync(join(folder, name)).size)).toEqual([bytes.length]);
      const [back] = await file.download();
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    } finally {
      await t.close();
    }
    expect(spillDirs().filter((d) => !before.has(d))).toEqual([]);
  });
});
