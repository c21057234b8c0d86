import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineEvents } from '../../src/engine/events.js';
import { attachRunLog, runLogPath } from '../../src/observe/run-log.js';
import { scrubText } from '../../src/observe/redact.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function fakeEngine(runId = 'run-1'): EventEmitter<EngineEvents> & { runId: string } {
  return Object.assign(new EventEmitter<EngineEvents>(), { runId });
}

const GOOGLE_KEY = 'AIzaSyD3adb33fC0ffee0123456789abcdefGHIJ';
const PLAIN_SECRET = 'test-key-proj-a';

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('run log', () => {
  it('puts the log beside the state file, named by job and run', () => {
    expect(runLogPath({ name: 'blog-hero', stateFile: '/data/.genbatch/blog-hero.db' }, '20250101-ab12')).toBe(
      '/data/.genbatch/logs/blog-hero-20250101-ab12.jsonl',
    );
    expect(runLogPath({ name: 'a b/../c', stateFile: '/s/x.db' }, 'r')).toBe('/s/logs/a_b_.._c-r.jsonl');
  });

  it('carries each step’s finish reason, and warns of a cut reply kept as done', () => {
    const dir = tempDir();
    const engine = fakeEngine();
    const file = join(dir, 'run.jsonl');
    const log = attachRunLog(engine, { job: { name: 'test-job', stateFile: join(dir, 'state.db') }, file });
    const done = { step: 'brief', project: 'proj-a', costUsd: 0.001, durationMs: 12, outputs: [] };
    engine.emit('step:done', { itemId: 'a', ...done, finishReason: 'STOP' });
    engine.emit('step:done', { itemId: 'b', ...done, finishReason: 'MAX_TOKENS', truncated: true });
    engine.emit('step:failed', { itemId: 'c', step: 'brief', code: 'TRUNCATED', message: 'cut at max_output_tokens (20)', finishReason: 'MAX_TOKENS' });
    engine.emit('step:filtered', { itemId: 'd', step: 'brief', reason: 'reply blocked (RECITATION)', finishReason: 'RECITATION' });
    engine.emit('step:retry', {
      itemId: 'e',
      step: 'brief',
      project: 'proj-a',
      code: 'BAD_RESPONSE',
      message: 'OTHER',
      attempt: 1,
      delayMs: 5,
      finishReason: 'OTHER',
    });
    log.close();
    const rows = lines(file);
    expect(rows.map((r) => [r.item_id, r.level, r.finish_reason, r.truncated])).toEqual([
      ['a', 'info', 'STOP', undefined],
      ['b', 'warn', 'MAX_TOKENS', true],
      ['c', 'warn', 'MAX_TOKENS', undefined],
      ['d', 'warn', 'RECITATION', undefined],
      ['e', 'warn', 'OTHER', undefined],
    ]);
    expect(rows[1]?.message).toMatch(/cut at max_output_tokens and kept/);
  });

  it('writes one JSON line per event with run id, item id, step, project, code and message', () => {
    const dir = tempDir();
    const engine = fakeEngine();
    const file = join(dir, 'logs', 'run.jsonl');
    const log = attachRunLog(engine, { job: { name: 'test-job', stateFile: join(dir, 'state.db') }, file });
    engine.emit('run:start', { runId: 'run-1', total: 3, pending: 3, pendingSteps: { brief: 3 }, recovered: 0, steps: ['brief'] });
    engine.emit('step:start', { itemId: 'a', step: 'brief', project: 'proj-a', attempt: 1 });
    engine.emit('call:end', {
      itemId: 'a',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      httpStatus: 200,
      usage: { inputTokens: 10, outputTokens: 20, thoughtsTokens: 0, images: 0, videoSeconds: 0, characters: 0, cachedTokens: 0 },
      costUsd: 0.001,
      durationMs: 12,
    });
    engine.emit('step:done', { itemId: 'a', step: 'brief', project: 'proj-a', costUsd: 0.001, durationMs: 12, outputs: [] });
    engine.emit('step:failed', { itemId: 'b', step: 'brief', code: 'BAD_RESPONSE', message: 'reply was not JSON' });
    engine.emit('project:cooldown', { project: 'proj-b', untilMs: Date.parse('2030-01-01T00:00:00Z'), reason: 'quota exhausted (429)', perDay: false });
    engine.emit('run:end', {
      runId: 'run-1',
      outcome: 'failed_items',
      exitCode: 1,
      counts: { pending: 0, running: 0, done: 1, failed: 1, filtered: 0 },
      costUsd: 0.001,
      requests: 1,
      unsettledCalls: 0,
      unsettledMaxUsd: 0,
      durationMs: 50,
    });
    log.note('notify', { outcome: 'sent', status: 200 }, 'notification sent');
    log.close();
    engine.emit('step:done', { itemId: 'late', step: 'brief', project: 'proj-a', costUsd: 0, durationMs: 1, outputs: [] });

    const rows = lines(file);
    expect(rows.map((r) => r.event)).toEqual(['run:start', 'step:start', 'call:end', 'step:done', 'step:failed', 'project:cooldown', 'run:end', 'notify']);
    for (const row of rows) {
      expect(row).toMatchObject({
        job: 'test-job',
        run_id: 'run-1',
        level: expect.any(String),
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        message: expect.any(String),
      });
    }
    expect(rows[2]).toMatchObject({
      item_id: 'a',
      step: 'brief',
      project: 'proj-a',
      model: 'gemini-2.5-flash',
      http_status: 200,
      usage: { input_tokens: 10, output_tokens: 20 },
    });
    expect(rows[4]).toMatchObject({ level: 'warn', item_id: 'b', step: 'brief', code: 'BAD_RESPONSE', message: 'reply was not JSON' });
    expect(rows[5]).toMatchObject({ project: 'proj-b', per_day: false, message: expect.stringContaining('2030-01-01T00:00:00.000Z') });
    expect(rows[6]).toMatchObject({ level: 'warn', outcome: 'failed_items', exit_code: 1, counts: { done: 1, failed: 1 } });
  });

  it('never writes key material: secret-shaped text, secret keys and known secret values are redacted', () => {
    const dir = tempDir();
    const engine = fakeEngine();
    const file = join(dir, 'run.jsonl');
    const log = attachRunLog(engine, { job: { name: 'j', stateFile: join(dir, 's.db') }, file, secrets: [PLAIN_SECRET] });
    engine.emit('step:failed', {
      itemId: 'a',
      step: 'brief',
      code: 'HTTP_400',
      message: `POST https://aiplatform.googleapis.com/v1/projects/p/models/m:generateContent?key=${GOOGLE_KEY}&alt=sse failed; header Authorization: Bearer ya29.a0AfH6SMBx-secret-token; used ${PLAIN_SECRET}`,
    });
    engine.emit('step:retry', {
      itemId: 'a',
      step: 'brief',
      project: 'p',
      code: 'X',
      message: `{"api_key": "${PLAIN_SECRET}x", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----"}`,
      attempt: 1,
      delayMs: 10,
    });
    engine.emit('credentials:invalid', { message: `api key ${GOOGLE_KEY} rejected` });
    // A field named like a secret is censored whatever its value (the run log censors it by name, then scrubs every string).
    log.note(
      'debug',
      { apiKey: 'plainvalue1', nested: { authorization: 'plainvalue2', key: 'plainvalue3' }, headers: { 'x-goog-api-key': 'plainvalue4' } },
      'fields',
    );
    log.close();

    const text = readFileSync(file, 'utf8');
    for (const secret of [GOOGLE_KEY, PLAIN_SECRET, 'ya29.a0AfH6SMBx-secret-token', 'MIIE', 'plainvalue1', 'plainvalue2', 'plainvalue3', 'plainvalue4'])
      expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    const rows = lines(file);
    expect(rows[0]?.message).toMatch(/generateContent\?key=\[redacted\]&alt=sse failed; header Authorization: Bearer \[redacted\]; used \[redacted\]/);
    expect(rows).toHaveLength(4);
  });

  it('scrubs the common shapes and leaves ordinary text alone', () => {
    expect(scrubText('plain message about a 429 from proj-a')).toBe('plain message about a 429 from proj-a');
    expect(scrubText(`x-goog-api-key: ${GOOGLE_KEY}`)).not.toContain(GOOGLE_KEY);
    expect(scrubText('https://hooks.example/x?token=abc123&sig=zz')).toBe('https://hooks.example/x?token=[redacted]&sig=[redacted]');
    expect(scrubText('Authorization: Basic dXNlcjpwYXNz')).not.toContain('dXNlcjpwYXNz');
    expect(scrubText(scrubText(`key=${GOOGLE_KEY}`))).toBe('key=[redacted]');
  });

  it('refuses a log it cannot create before the run starts, and survives one that fails mid-run', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'afile'), '');
    expect(() => attachRunLog(fakeEngine(), { job: { name: 'j', stateFile: join(dir, 's.db') }, file: join(dir, 'afile', 'run.jsonl') })).toThrow(
      expect.objectContaining({ code: 'RUN_LOG_UNWRITABLE', exitCode: 2, message: expect.stringMatching(/^Cannot write the run log .*afile\/run\.jsonl/) }),
    );
    if (!existsSync('/dev/full')) return;
    const engine = fakeEngine();
    const errors: string[] = [];
    const log = attachRunLog(engine, { job: { name: 'j', stateFile: join(dir, 's.db') }, file: '/dev/full', onError: (e) => errors.push(e.message) });
    for (let i = 0; i < 3; i += 1) engine.emit('step:done', { itemId: `i${i}`, step: 'brief', project: 'p', costUsd: 0, durationMs: 1, outputs: [] });
    log.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/ENOSPC/);
  });
});
