import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TruncatedReplyError } from '../../src/errors/provider-errors.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { emptyUsage, type ProviderRequest, type Usage } from '../../src/providers/provider.js';
import { vertexClient } from '../helpers/emulator-client.js';

/**
 * Thinking replies in the shapes Google documents (test/contract/fixtures/thinking/README.md), served
 * over HTTP to the real SDK and read by genbatch's text provider; their usage is priced as the ledger
 * prices it. Thinking tokens are billed at the output price, with or without visible text.
 */
const fixture = (name: string): string => readFileSync(new URL(`fixtures/thinking/${name}.json`, import.meta.url), 'utf8');

let server: Server;
let url = '';
let next = '';
const sent: Record<string, unknown>[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      sent.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(next);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const catalog = PriceCatalog.load();
const provider = new GeminiTextProvider();

/** The usage genbatch records for a reply, whether the provider accepts it or refuses it (a refusal carries the billed usage). */
async function usageFor(reply: string, request: Partial<ProviderRequest> = {}): Promise<{ usage: Usage; text?: string; error?: unknown }> {
  next = fixture(reply);
  const call = provider.call(vertexClient(url, 'contract-project'), {
    task: 'text',
    model: 'gemini-2.5-flash',
    prompt: 'Why is the sky blue?',
    params: {},
    ...request,
  });
  return call.then(
    (result) => ({ usage: result.usage, ...(result.text === undefined ? {} : { text: result.text }) }),
    (error: unknown) => ({ usage: (error as { usage: Usage }).usage, error }),
  );
}

/** USD at list price: input at the input price, reply and thinking tokens at the output price. */
const listPrice = (inPer1m: number, outPer1m: number, input: number, output: number): number => (input * inPer1m + output * outPer1m) / 1e6;

describe('thinking replies as Vertex sends them, read and priced', () => {
  it('MAX_TOKENS with no parts and no candidatesTokenCount: no output, 19 thinking tokens billed at the output price', async () => {
    const { usage, error } = await usageFor('no-parts-max-tokens', { maxOutputTokens: 20 });
    // Cut before any text: the step fails TRUNCATED (docs/finish-reasons.md), billed once.
    expect(error).toBeInstanceOf(TruncatedReplyError);
    expect(usage).toMatchObject({ inputTokens: 9, outputTokens: 0, thoughtsTokens: 19 });
    expect(catalog.cost('gemini-2.5-flash', usage)).toBeCloseTo(listPrice(0.3, 2.5, 9, 19), 12);
    expect(catalog.cost('gemini-2.5-flash', usage)).toBe(0.0000502);
  });

  it('a reply cut with MAX_TOKENS after thinking: 155 reply + 42 thinking tokens, all at the output price', async () => {
    const { usage } = await usageFor('cut-max-tokens', { maxOutputTokens: 200, thinkingBudget: 50 });
    expect(usage).toMatchObject({ inputTokens: 10, outputTokens: 155, thoughtsTokens: 42 });
    expect(catalog.cost('gemini-2.5-flash', usage)).toBe(0.0004955);
    // What was sent: the budget inside maxOutputTokens.
    expect(sent.at(-1)?.generationConfig).toMatchObject({ maxOutputTokens: 200, thinkingConfig: { thinkingBudget: 50 } });
  });

  it('a whole reply after thinking (gemini-2.5-pro): the text, and 40 + 300 tokens at the output price', async () => {
    const { usage, text } = await usageFor('stop-with-thoughts', { model: 'gemini-2.5-pro', thinkingBudget: 2048 });
    expect(text).toBe('Write-ahead logging records each change in a log before it reaches the database file.');
    expect(usage).toMatchObject({ inputTokens: 12, outputTokens: 40, thoughtsTokens: 300 });
    expect(catalog.cost('gemini-2.5-pro', usage)).toBeCloseTo(listPrice(1.25, 10, 12, 340), 12);
    expect(catalog.cost('gemini-2.5-pro', usage)).toBe(0.003415);
  });

  it('thought summaries are not part of the reply text; their tokens are billed as thinking', async () => {
    const { usage, text } = await usageFor('thought-summary');
    expect(text).toBe('Blue.');
    expect(usage).toMatchObject({ inputTokens: 6, outputTokens: 2, thoughtsTokens: 120 });
    expect(catalog.cost('gemini-2.5-flash', usage)).toBe(0.0003068);
  });

  it('the batch price halves thinking like the rest of the output', () => {
    const usage: Usage = { ...emptyUsage(), inputTokens: 10, outputTokens: 155, thoughtsTokens: 42 };
    expect(catalog.batchCost('gemini-2.5-flash', usage)).toBeCloseTo(0.0004955 / 2, 12);
  });
});
