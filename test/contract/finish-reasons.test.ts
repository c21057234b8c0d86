import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reactionTo } from '../../src/engine/error-reactions.js';
import { ProviderError, QuotaExhaustedError, TransientError } from '../../src/errors/provider-errors.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { batchResultOf } from '../../src/providers/gemini-batch.js';
import { GeminiImageProvider } from '../../src/providers/gemini-image.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import type { ProviderRequest, ProviderResult, Usage } from '../../src/providers/provider.js';
import { classifyError } from '../../src/resilience/classify-error.js';
import { vertexClient } from '../helpers/emulator-client.js';

/**
 * Gemini replies and Vertex errors in the shapes Google documents (fixtures written by hand from the
 * REST reference and the protos: see fixtures/finish-reasons/README.md), served over HTTP to the
 * real SDK, read by genbatch's real providers, classified by classify-error and judged by the
 * engine's reaction table. Each test checks what genbatch records: done / filtered / failed /
 * retried, the finish reason, and what is billed.
 */

const FIXTURES = new URL('./fixtures/finish-reasons/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const json = (name: string): Record<string, unknown> => JSON.parse(fixture(name)) as Record<string, unknown>;

/** A reply of a template with its finish reason (and message) filled in. */
function withReason(template: string, reason: string): Record<string, unknown> {
  const reply = JSON.parse(fixture(template).replace('__REASON__', reason)) as { candidates: { finishMessage?: string }[] };
  const candidate = reply.candidates[0];
  if (candidate) delete candidate.finishMessage;
  return reply as unknown as Record<string, unknown>;
}

interface Canned {
  status: number;
  contentType: string;
  body: string;
}

let server: Server;
let url: string;
let queue: Canned[] = [];
let served = 0;

function serve(...replies: (Record<string, unknown> | Canned)[]): void {
  queue = replies.map((r) => ('status' in r && 'contentType' in r ? (r as Canned) : { status: 200, contentType: 'application/json', body: JSON.stringify(r) }));
  served = 0;
}

beforeAll(async () => {
  // Answers every call with the next canned reply, in rotation (as a recorded session replays).
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const reply = queue[served++ % queue.length];
      if (!reply) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(reply.status, { 'content-type': reply.contentType }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const catalog = PriceCatalog.load();
const TEXT: ProviderRequest = { task: 'text', model: 'gemini-2.5-flash', prompt: 'Write about Prometheus at scale.', params: {}, maxOutputTokens: 200 };
const JSON_STEP: ProviderRequest = { ...TEXT, jsonSchema: { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] } };
const IMAGE: ProviderRequest = { task: 'image', model: 'gemini-2.5-flash-image', prompt: 'A lighthouse at dawn', params: {} };

interface Recorded {
  verdict: 'done' | 'filtered' | 'failed' | 'retried' | 'requeued';
  /** The finish reason recorded with the step. */
  reason: string | undefined;
  code?: string;
  truncated?: boolean;
  /** What the ledger bills for this call (undefined: nothing). */
  billed: Usage | undefined;
  result?: ProviderResult;
  error?: ProviderError;
}

/** What the engine records for one call: the provider's result, or its error through the reaction table. */
async function record(call: Promise<ProviderResult>): Promise<Recorded> {
  try {
    const result = await call;
    return {
      verdict: result.filtered ? 'filtered' : 'done',
      reason: result.finishReason,
      ...(result.truncated ? { truncated: true } : {}),
      billed: result.usage,
      result,
    };
  } catch (raw) {
    const error = classifyError(raw);
    const reaction = reactionTo(error);
    const verdict = reaction.unit === 'fail' ? 'failed' : reaction.unit === 'retry' ? 'retried' : 'requeued';
    return {
      verdict,
      reason: error instanceof ProviderError ? error.finishReason : undefined,
      code: error.code,
      billed: reaction.billed === 'usage' ? (error as { usage?: Usage }).usage : undefined,
      ...(error instanceof ProviderError ? { error } : {}),
    };
  }
}

const text = (request: ProviderRequest = TEXT): Promise<Recorded> => record(new GeminiTextProvider().call(vertexClient(url, 'contract-proj'), request));
const image = (): Promise<Recorded> => record(new GeminiImageProvider().call(vertexClient(url, 'contract-proj'), IMAGE));
/** The same reply as a line of a batch job's output, read by the batch reader. */
const batchLine = (reply: Record<string, unknown>, request: ProviderRequest = TEXT): Promise<Recorded> =>
  record(Promise.resolve().then(() => batchResultOf(reply, request)));

const FILTERED = ['SAFETY', 'RECITATION', 'LANGUAGE', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'MODEL_ARMOR'];
const RETRIED = ['OTHER', 'MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL', 'TOO_MANY_TOOL_CALLS', 'FINISH_REASON_UNSPECIFIED', 'SOME_REASON_FROM_2027'];

describe('contract: Gemini finish reasons (text and JSON steps)', () => {
  it('STOP with text: done, reason STOP, billed for prompt, text and thinking', async () => {
    serve(json('rotation/1-stop.json'));
    const got = await text();
    expect(got).toMatchObject({ verdict: 'done', reason: 'STOP' });
    expect(got.billed).toMatchObject({ inputTokens: 23, outputTokens: 33, thoughtsTokens: 356 });
    expect(catalog.cost('gemini-2.5-flash', got.billed!)).toBeGreaterThan(0);
    expect(got.result?.text).toMatch(/^Kubernetes in production/);
  });

  it.each(FILTERED)('%s, with text and without: filtered, billed once (a retry is refused the same way)', async (reason) => {
    for (const template of ['candidate-with-text.json', 'candidate-without-content.json']) {
      serve(withReason(template, reason));
      const got = await text();
      expect(got, `${reason} ${template}`).toMatchObject({ verdict: 'filtered', reason });
      expect(got.result?.filtered?.reason).toContain(`reply blocked (${reason})`);
      expect(got.result?.text).toBeUndefined();
      expect(got.billed?.inputTokens).toBe(18);
      expect(got.billed?.thoughtsTokens).toBeGreaterThan(0);
      expect(await batchLine(withReason(template, reason))).toMatchObject({ verdict: 'filtered', reason });
    }
  });

  it.each(RETRIED)('%s, with text and without: retried within max_attempts, each attempt billed', async (reason) => {
    for (const template of ['candidate-with-text.json', 'candidate-without-content.json']) {
      serve(withReason(template, reason));
      const got = await text();
      expect(got, `${reason} ${template}`).toMatchObject({ verdict: 'retried', reason, code: 'BAD_RESPONSE' });
      expect(got.billed?.inputTokens).toBe(18);
      expect(got.error?.message).toContain(`finish reason ${reason}`);
      expect(await batchLine(withReason(template, reason))).toMatchObject({ verdict: 'retried', reason });
    }
  });

  it('SAFETY with safetyRatings and no content; RECITATION with citations and part of a text: both filtered', async () => {
    serve(json('safety.json'));
    expect(await text()).toMatchObject({ verdict: 'filtered', reason: 'SAFETY', billed: { inputTokens: 15, thoughtsTokens: 188 } });
    serve(json('recitation.json'));
    const recitation = await text();
    expect(recitation).toMatchObject({ verdict: 'filtered', reason: 'RECITATION', billed: { outputTokens: 30 } });
    expect(recitation.result?.text).toBeUndefined();
  });

  it('MAX_TOKENS with no parts (thinking used the whole max_output_tokens): failed TRUNCATED, billed, not retried', async () => {
    serve(json('rotation/4-max-tokens-no-parts.json'));
    for (const request of [TEXT, { ...TEXT, onTruncated: 'keep' as const }, JSON_STEP]) {
      const got = await text(request);
      expect(got).toMatchObject({
        verdict: 'failed',
        code: 'TRUNCATED',
        reason: 'MAX_TOKENS',
        billed: { inputTokens: 21, outputTokens: 0, thoughtsTokens: 19 },
      });
      expect(got.error?.message).toMatch(/cut at max_output_tokens \(200, 19 of them spent thinking\) before any text/);
      expect(got.error?.hint).toMatch(/Raise max_output_tokens or lower the thinking budget/);
    }
  });

  it('MAX_TOKENS with some text: failed TRUNCATED by default; kept and marked truncated with on_truncated: keep', async () => {
    serve(json('rotation/2-max-tokens-with-text.json'));
    expect(await text()).toMatchObject({ verdict: 'failed', code: 'TRUNCATED', reason: 'MAX_TOKENS', billed: { outputTokens: 155, thoughtsTokens: 42 } });
    const kept = await text({ ...TEXT, onTruncated: 'keep' });
    expect(kept).toMatchObject({ verdict: 'done', reason: 'MAX_TOKENS', truncated: true, billed: { outputTokens: 155 } });
    expect(kept.result?.text).toMatch(/split the state by blast radius, not by$/);
    // A JSON reply cut short cannot be kept: there is no JSON to keep.
    expect(await text({ ...JSON_STEP, onTruncated: 'keep' })).toMatchObject({ verdict: 'failed', code: 'TRUNCATED', reason: 'MAX_TOKENS' });
    // A batch line is judged the same way.
    expect(await batchLine(json('rotation/2-max-tokens-with-text.json'))).toMatchObject({ verdict: 'failed', code: 'TRUNCATED' });
    expect(await batchLine(json('rotation/2-max-tokens-with-text.json'), { ...TEXT, onTruncated: 'keep' })).toMatchObject({ verdict: 'done', truncated: true });
  });

  it('five recorded gemini-2.5-flash replies in rotation: no cut reply is saved as done unless on_truncated: keep', async () => {
    const rotation = readdirSync(new URL('rotation/', FIXTURES))
      .sort()
      .map((name) => json(`rotation/${name}`));
    for (const [keep, expected] of [
      [false, { done: 18, failed: 12, truncated: 0 }],
      [true, { done: 24, failed: 6, truncated: 6 }],
    ] as const) {
      serve(...rotation);
      const counts = { done: 0, failed: 0, truncated: 0 };
      let billedCalls = 0;
      for (let i = 0; i < 30; i++) {
        const got = await text(keep ? { ...TEXT, onTruncated: 'keep' } : TEXT);
        if (got.verdict === 'done') counts.done++;
        if (got.verdict === 'failed') counts.failed++;
        if (got.truncated) counts.truncated++;
        if (got.verdict === 'done') expect(got.reason === 'STOP' || (keep && got.truncated)).toBe(true);
        if (got.billed && catalog.cost('gemini-2.5-flash', got.billed) > 0) billedCalls++;
      }
      expect(counts, `on_truncated: ${keep ? 'keep' : 'fail'}`).toEqual(expected);
      // Every reply was billed once, the cut ones included; none was asked again.
      expect(billedCalls).toBe(30);
      expect(served).toBe(30);
    }
  });

  it('functionCall parts with a thoughtSignature and no text (a text step sends no tools): retried, named, billed', async () => {
    serve(json('function-call.json'));
    const got = await text();
    expect(got).toMatchObject({ verdict: 'retried', code: 'BAD_RESPONSE', reason: 'STOP', billed: { inputTokens: 61, outputTokens: 19, thoughtsTokens: 95 } });
    expect(got.error?.message).toMatch(/function call \(get_current_weather\) and no text/);
    expect(got.error?.message).not.toContain('CiQB');
  });

  it('promptFeedback.blockReason with no candidates: filtered with the block reason, billed for the prompt', async () => {
    serve(json('prompt-blocked.json'));
    const got = await text();
    expect(got).toMatchObject({ verdict: 'filtered', reason: 'PROMPT_BLOCKED_PROHIBITED_CONTENT', billed: { inputTokens: 12, outputTokens: 0 } });
    expect(got.result?.filtered?.reason).toMatch(/^prompt blocked \(PROHIBITED_CONTENT\): The prompt could not be submitted/);
  });
});

describe('contract: Gemini image replies', () => {
  it('IMAGE_SAFETY with no content: filtered; NO_IMAGE with only text: filtered', async () => {
    serve(json('image-safety.json'));
    expect(await image()).toMatchObject({ verdict: 'filtered', reason: 'IMAGE_SAFETY', billed: { inputTokens: 11, images: 0 } });
    serve(json('no-image.json'));
    expect(await image()).toMatchObject({ verdict: 'filtered', reason: 'NO_IMAGE', billed: { outputTokens: 22, images: 0 } });
  });
});

describe('contract: Vertex error shapes through the real SDK', () => {
  it('a bare 429 RESOURCE_EXHAUSTED with no details: quota, requeued without an attempt, no RetryInfo, nothing billed', async () => {
    serve({ status: 429, contentType: 'application/json; charset=UTF-8', body: fixture('vertex-429-bare.json') });
    const got = await text();
    expect(got).toMatchObject({ verdict: 'requeued', code: 'QUOTA_EXHAUSTED', billed: undefined, reason: undefined });
    expect(got.error).toBeInstanceOf(QuotaExhaustedError);
    expect(got.error?.retryAfterMs).toBeUndefined();
    expect((got.error as QuotaExhaustedError).perDay).toBe(false);
    expect(reactionTo(got.error!)).toMatchObject({ countsAttempt: false, project: 'cooldown' });
    expect(got.error?.message).toMatch(/^Vertex AI answered 429 RESOURCE_EXHAUSTED: Resource exhausted\. Please try again later\./);
  });

  it('an HTML 502 page from Google’s front end: transient, retried with backoff, nothing billed', async () => {
    serve({ status: 502, contentType: 'text/html; charset=UTF-8', body: fixture('google-502.html') });
    const got = await text();
    expect(got).toMatchObject({ verdict: 'retried', code: 'TRANSIENT', billed: undefined });
    expect(got.error).toBeInstanceOf(TransientError);
    expect(got.error?.httpStatus).toBe(502);
    expect(reactionTo(got.error!)).toMatchObject({ countsAttempt: true, unit: 'retry', billed: 'no' });
  });
});
