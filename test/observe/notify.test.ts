import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/job/job.js';
import { buildErrorSummary, buildRunSummary, checkNotifyTemplate, notifySummary, summaryText, type NotifySummary } from '../../src/observe/notify.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { RUN_ID, storeWithRun } from './store-fixture.js';

const tempDir = useTempDir();
const GOOGLE_KEY = 'AIzaSyD3adb33fC0ffee0123456789abcdefGHIJ';
const JOB = { name: 'blog "hero"\nimages', steps: [{ name: 'brief' }] } as unknown as Job;

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/** A local webhook receiver: answers `status` (or never, with `hang`), and records what it got. */
async function receiver(options: { status?: number; hang?: boolean } = {}): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body });
      if (!options.hang) response.writeHead(options.status ?? 200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/services/T000/B000/SECRETTOKEN?key=${GOOGLE_KEY}`, received };
}

function summaryFromStore(): NotifySummary {
  const store = storeWithRun(tempDir(), `upstream said: key=${GOOGLE_KEY} is invalid "quoted"\nsecond line`);
  try {
    return buildRunSummary(JOB, store, { runId: RUN_ID, outcome: 'failed_items', exitCode: 1, durationMs: 61_500 });
  } finally {
    store.close();
  }
}

describe('run summary', () => {
  it('is built from the state file and the engine result', () => {
    const summary = summaryFromStore();
    expect(summary).toMatchObject({
      job: JOB.name,
      run_id: RUN_ID,
      outcome: 'failed_items',
      exit_code: 1,
      total: 5,
      counts: { pending: 1, running: 0, done: 2, failed: 1, filtered: 1 },
      requests: 4,
      job_requests: 4,
      duration_s: 61.5,
      failures_total: 2,
      started_at: expect.stringMatching(/^\d{4}-/),
      ended_at: expect.stringMatching(/^\d{4}-/),
    });
    expect(summary.cost_usd).toBeCloseTo(0.035, 9);
    expect(summary.failures.map((f) => [f.id, f.error])).toEqual([
      ['c', 'BAD_RESPONSE'],
      ['d', 'SAFETY_FILTERED'],
    ]);
    expect(summaryText(summary)).toMatch(
      /^genbatch blog "hero"\nimages: failed_items \(exit 1\)\. 2 of 5 items done, 1 failed, 1 filtered, 1 pending\. This run: \$0\.0350 over 4 calls in 1m/,
    );
  });

  it('describes a command that could not start a run', () => {
    const error = Object.assign(new Error('Another run of blog is active (pid 42 on host).'), { hint: 'Wait for it.' });
    expect(buildErrorSummary('blog', error, 5)).toMatchObject({
      job: 'blog',
      run_id: null,
      outcome: 'locked',
      exit_code: 5,
      message: 'Another run of blog is active (pid 42 on host).',
      hint: 'Wait for it.',
    });
    expect(buildErrorSummary('blog', new Error('bad job'), 2).outcome).toBe('invalid');
  });
});

describe('notifySummary', () => {
  it('POSTs the summary as JSON, with secrets scrubbed', async () => {
    const { url, received } = await receiver();
    const summary = summaryFromStore();
    const result = await notifySummary(url, summary, undefined, { secrets: ['second line'] });
    expect(result).toEqual({ ok: true, status: 200 });
    expect(received).toHaveLength(1);
    const got = received[0];
    expect(got?.method).toBe('POST');
    expect(got?.headers['content-type']).toBe('application/json');
    const body = JSON.parse(got?.body ?? '') as NotifySummary;
    expect(Object.keys(body)).toEqual(
      expect.arrayContaining(['job', 'run_id', 'outcome', 'exit_code', 'counts', 'cost_usd', 'requests', 'duration_s', 'failures', 'started_at', 'ended_at']),
    );
    expect(body.counts).toEqual(summary.counts);
    expect(got?.body).not.toContain(GOOGLE_KEY);
    // Known secret values (from the credentials) and secret-shaped text are both removed.
    expect(body.failures[0]?.message).toBe('upstream said: key=[redacted] is invalid "quoted"\n[redacted]');
  });

  it('fills a chat template with JSON-escaped values (Slack and Telegram shapes)', async () => {
    const { url, received } = await receiver();
    const summary = summaryFromStore();
    expect(await notifySummary(url, summary, '{"text": "{{summary}}"}')).toMatchObject({ ok: true });
    expect(
      await notifySummary(
        url,
        summary,
        '{"chat_id": "-100123", "text": "{{job}}: {{outcome}} (exit {{exit_code}}), {{done}} done, {{failed}} failed, ${{cost_usd}}", "n": {{exit_code}}}',
      ),
    ).toMatchObject({ ok: true });
    const slack = JSON.parse(received[0]?.body ?? '') as { text: string };
    expect(slack.text).toBe(
      summaryText({ ...summary, failures: summary.failures.map((f) => ({ ...f, message: f.message.replace(GOOGLE_KEY, '[redacted]') })) }),
    );
    expect(slack.text).toContain('\n');
    expect(slack.text).not.toContain(GOOGLE_KEY);
    const telegram = JSON.parse(received[1]?.body ?? '') as Record<string, unknown>;
    expect(telegram).toEqual({ chat_id: '-100123', text: `${JOB.name}: failed_items (exit 1), 2 done, 1 failed, $0.035`, n: 1 });
  });

  it('refuses a bad template before sending anything', async () => {
    const { url, received } = await receiver();
    expect(checkNotifyTemplate('{"text": "{{summary}}"}')).toBeUndefined();
    expect(checkNotifyTemplate('{"text": {{summary}}}')).toMatch(/does not produce JSON/);
    expect(checkNotifyTemplate('{"text": "{{sumary}}"}')).toMatch(/names \{\{sumary\}\}, which is not a summary field/);
    const result = await notifySummary(url, summaryFromStore(), '{"text": {{summary}}}');
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^Notification not sent: the notify template does not produce JSON/) });
    expect(received).toHaveLength(0);
  });

  it('never throws: refusals, timeouts and unreachable hosts come back as sentences without the URL secret', async () => {
    const refusing = await receiver({ status: 500 });
    const refused = await notifySummary(refusing.url, summaryFromStore());
    expect(refused).toMatchObject({
      ok: false,
      status: 500,
      error: expect.stringMatching(/^Notification to http:\/\/127\.0\.0\.1:\d+\/… was refused: HTTP 500/),
    });
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));

    const hanging = await receiver({ hang: true });
    // A receiver that never answers: the notification gives up after its timeout (else this test times out).
    const timedOut = await notifySummary(hanging.url, summaryFromStore(), undefined, { timeoutMs: 300 });
    expect(timedOut).toMatchObject({ ok: false, error: expect.stringMatching(/failed: no answer within/) });

    const closedPort = new URL(hanging.url);
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    server = undefined;
    const unreachable = await notifySummary(closedPort.href, summaryFromStore());
    expect(unreachable).toMatchObject({ ok: false, error: expect.stringMatching(/^Notification to http:\/\/127\.0\.0\.1:\d+\/… failed: .*ECONNREFUSED/) });
    expect(await notifySummary('ftp://example.com/x', summaryFromStore())).toMatchObject({ ok: false, error: expect.stringMatching(/must be http/) });
    for (const r of [refused, timedOut, unreachable]) {
      const error = 'error' in r ? r.error : '';
      expect(error).not.toContain('SECRETTOKEN');
      expect(error).not.toContain(GOOGLE_KEY);
    }
  });
});
