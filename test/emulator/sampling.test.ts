import type { GenerateContentResponse, GoogleGenAI } from '@google/genai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

/**
 * The emulator samples like a model: each ask of a prompt is a new draw, reproducible from the seed,
 * the request and how many times that prompt was asked before. A reply is never empty with STOP
 * unless `empty_rate` asks for it, and JSON replies always satisfy their schema.
 */
const MODEL = 'gemini-2.5-flash';
const GEMINI_IMAGE = 'gemini-2.5-flash-image';
const IMAGEN = 'imagen-4.0-fast-generate-001';
const EMBEDDING = 'text-embedding-005';

const BRIEF_SCHEMA = {
  type: 'object',
  properties: { image_prompt: { type: 'string' }, alt_text: { type: 'string' } },
  required: ['image_prompt', 'alt_text'],
};

/** Constraints a naive generator gets wrong: patterns, bounds, formats, item counts, uniqueness. */
const STRICT_SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string', minLength: 10, maxLength: 60 },
    slug: { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' },
    colour: { type: 'string', pattern: '^#[0-9a-f]{6}$' },
    rating: { type: 'integer', minimum: 1, maximum: 5 },
    below: { type: 'number', maximum: -3 },
    negative: { type: 'integer', exclusiveMaximum: 0 },
    half: { type: 'number', multipleOf: 0.5, minimum: 1, maximum: 3 },
    tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, minItems: 2, maxItems: 3, uniqueItems: true },
    none: { type: 'array', items: { type: 'string' }, maxItems: 0 },
    id: { type: 'string', format: 'uuid' },
    when: { type: 'string', format: 'date-time' },
    at: { type: 'string', format: 'time' },
    mail: { type: 'string', format: 'email' },
    site: { type: 'string', format: 'uri' },
    host: { type: 'string', format: 'hostname' },
    ip: { type: 'string', format: 'ipv4' },
    maybe: { type: ['string', 'null'] },
    either: { anyOf: [{ type: 'string', maxLength: 5 }, { type: 'integer' }] },
  },
  required: [
    'title',
    'slug',
    'colour',
    'rating',
    'below',
    'negative',
    'half',
    'tags',
    'none',
    'id',
    'when',
    'at',
    'mail',
    'site',
    'host',
    'ip',
    'maybe',
    'either',
  ],
};

let running: TestEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.map((t) => t.close()));
  running = [];
});

async function emulator(config: Parameters<typeof startTestEmulator>[0] = {}): Promise<TestEmulator> {
  const t = await startTestEmulator(config);
  running.push(t);
  return t;
}

function text(client: GoogleGenAI, contents: string, config: Record<string, unknown> = {}): Promise<GenerateContentResponse> {
  return client.models.generateContent({ model: MODEL, contents, config });
}

function json(client: GoogleGenAI, contents: string, schema: object): Promise<GenerateContentResponse> {
  return client.models.generateContent({ model: MODEL, contents, config: { responseMimeType: 'application/json', responseJsonSchema: schema } });
}

/** Runs `ask` for 0..n-1, `width` at a time. */
async function inParallel<T>(n: number, width: number, ask: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await ask(i);
      }
    }),
  );
  return out;
}

function imageBytes(response: GenerateContentResponse): string | undefined {
  return response.candidates?.[0]?.content?.parts?.find((p) => p.inlineData)?.inlineData?.data;
}

describe('emulator sampling: replies vary per ask and stay reproducible', () => {
  it('two fresh emulators with the same seed answer the same sequence of requests identically', async () => {
    const sequence = async (t: TestEmulator) => {
      const client = t.client();
      const out: unknown[] = [];
      // Repeats included: the n-th ask of a prompt must match the other emulator's n-th ask.
      for (const prompt of ['Describe a harbour at dawn.', 'Describe a library at night.', 'Describe a harbour at dawn.', 'Describe a harbour at dawn.']) {
        const r = await text(client, prompt);
        out.push(r.text, r.usageMetadata?.candidatesTokenCount);
      }
      out.push((await json(client, 'Brief for a post on SQLite', BRIEF_SCHEMA)).text);
      out.push((await json(client, 'Brief for a post on SQLite', BRIEF_SCHEMA)).text);
      out.push(imageBytes(await client.models.generateContent({ model: GEMINI_IMAGE, contents: 'A lighthouse', config: { responseModalities: ['IMAGE'] } })));
      out.push(imageBytes(await client.models.generateContent({ model: GEMINI_IMAGE, contents: 'A lighthouse', config: { responseModalities: ['IMAGE'] } })));
      for (let i = 0; i < 2; i++) {
        const images = await client.models.generateImages({ model: IMAGEN, prompt: 'a red fox', config: { numberOfImages: 1 } });
        out.push(images.generatedImages?.[0]?.image?.imageBytes);
      }
      return out;
    };
    const [a, b] = [await emulator({ seed: 11 }), await emulator({ seed: 11 })];
    const fromA = await sequence(a);
    expect(fromA.every((value) => value !== undefined && value !== '')).toBe(true);
    expect(await sequence(b)).toEqual(fromA);

    // Another seed is another run of samples.
    const other = await sequence(await emulator({ seed: 12 }));
    expect(other[0]).not.toEqual(fromA[0]);
  });

  it('answers a repeated prompt differently the second time (text, JSON, Gemini image, Imagen)', async () => {
    const client = (await emulator()).client();
    const [t1, t2, t3] = [
      await text(client, 'Write an intro about WAL mode.'),
      await text(client, 'Write an intro about WAL mode.'),
      await text(client, 'Write an intro about WAL mode.'),
    ];
    expect(new Set([t1.text, t2.text, t3.text]).size).toBe(3);
    // Lengths are drawn per ask too.
    expect(new Set([t1, t2, t3].map((r) => r.usageMetadata?.candidatesTokenCount)).size).toBeGreaterThan(1);

    const [j1, j2] = [await json(client, 'Brief for Redis', BRIEF_SCHEMA), await json(client, 'Brief for Redis', BRIEF_SCHEMA)];
    expect(j2.text).not.toBe(j1.text);

    const askImage = () => client.models.generateContent({ model: GEMINI_IMAGE, contents: 'A quiet harbour', config: { responseModalities: ['IMAGE'] } });
    expect(imageBytes(await askImage())).not.toBe(imageBytes(await askImage()));

    const askImagen = () => client.models.generateImages({ model: IMAGEN, prompt: 'a red fox', config: { numberOfImages: 1 } });
    expect((await askImagen()).generatedImages?.[0]?.image?.imageBytes).not.toBe((await askImagen()).generatedImages?.[0]?.image?.imageBytes);
  });

  it('repeats a reply when the request fixes its seed, and /_emulator/reset starts the count again', async () => {
    const t = await emulator();
    const client = t.client();
    const seeded = async () => (await text(client, 'Explain vacuuming.', { seed: 5 })).text;
    const first = await seeded();
    expect(await seeded()).toBe(first);
    expect((await text(client, 'Explain vacuuming.', { seed: 6 })).text).not.toBe(first);

    const firstAsk = (await text(client, 'Explain indexes.')).text;
    expect((await text(client, 'Explain indexes.')).text).not.toBe(firstAsk);
    await fetch(`${t.url}/_emulator/reset`, { method: 'POST' });
    expect((await text(client, 'Explain indexes.')).text).toBe(firstAsk);
  });

  it('keeps embeddings deterministic: the same text gets the same vector on every ask', async () => {
    const client = (await emulator()).client();
    const embed = async () =>
      (await client.models.embedContent({ model: EMBEDDING, contents: ['hello world', 'hello world'] })).embeddings?.map((e) => e.values);
    const [first, second] = [await embed(), await embed()];
    expect(first?.[0]?.length).toBe(768);
    expect(second).toEqual(first);
    expect(first?.[1]).toEqual(first?.[0]);
  });
});

describe('emulator replies are usable unless a fault rate asks otherwise', () => {
  it('empty_rate 0 (the default): no empty reply over 3,000 distinct prompts', async () => {
    // Plain HTTP to :generateContent: the SDK's own work would add half again to 3,000 calls.
    const t = await emulator();
    const url = `${t.url}/v1beta1/projects/test-project/locations/us-central1/publishers/google/models/${MODEL}:generateContent`;
    const topics = ['Kubernetes', 'Terraform', 'PostgreSQL', 'Redis', 'Vertex AI', 'GitHub Actions', 'Docker', 'Rust'];
    const replies = await inParallel(3000, 32, async (i) => {
      const contents = [{ role: 'user', parts: [{ text: `Write a short intro for ${topics[i % topics.length] ?? ''} without downtime, part ${i + 1}` }] }];
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': 'test-key' },
        body: JSON.stringify({ contents }),
      });
      expect(response.status).toBe(200);
      const r = (await response.json()) as GenerateContentResponse;
      const candidate = r.candidates?.[0];
      const reply = (candidate?.content?.parts ?? []).map((part) => part.text ?? '').join('');
      return { finish: candidate?.finishReason, text: reply, tokens: r.usageMetadata?.candidatesTokenCount ?? 0 };
    });
    expect(replies.filter((r) => r.text.trim() === '')).toEqual([]);
    expect(new Set(replies.map((r) => r.finish))).toEqual(new Set(['STOP']));
    // A normal reply has a few words at least, never the one-token stub of a clamped length draw.
    expect(Math.min(...replies.map((r) => r.tokens))).toBeGreaterThanOrEqual(8);
  });

  it('never answers empty even when the configured reply length is tiny', async () => {
    const client = (await emulator({ models: { [MODEL]: { output_tokens: { mean: 1, sd: 3 } } } })).client();
    const replies = await inParallel(300, 16, async (i) => (await text(client, `Name a tool for documentation, number ${i}`)).text ?? '');
    expect(replies.filter((reply) => reply === '')).toEqual([]);
  });

  it('empty_rate 1: every text and JSON reply is empty with finishReason STOP and no candidate tokens', async () => {
    const client = (await emulator({ empty_rate: 1 })).client();
    for (const response of [await text(client, 'Write an intro about WAL mode.'), await json(client, 'Brief for Redis', BRIEF_SCHEMA)]) {
      const candidate = response.candidates?.[0];
      expect(candidate?.finishReason).toBe('STOP');
      expect(candidate?.content?.parts ?? []).toHaveLength(0);
      expect(response.text).toBeUndefined();
      expect(response.usageMetadata?.candidatesTokenCount ?? 0).toBe(0);
      expect(response.usageMetadata?.totalTokenCount).toBe((response.usageMetadata?.promptTokenCount ?? 0) + (response.usageMetadata?.thoughtsTokenCount ?? 0));
    }
  });

  it('empty_rate 0.3: about that share is empty, drawn per ask, so asking again recovers; a per-model rate wins', async () => {
    const t = await emulator({ empty_rate: 0.3, models: { 'gemini-2.5-pro': { empty_rate: 0 } } });
    const client = t.client();
    const first = await inParallel(600, 32, async (i) => (await text(client, `Summarise post ${i}`)).text ?? '');
    const emptyIndexes = first.flatMap((reply, i) => (reply === '' ? [i] : []));
    expect(emptyIndexes.length).toBeGreaterThan(130); // 180 expected, sd 11
    expect(emptyIndexes.length).toBeLessThan(230);
    // Retrying each empty one up to five times gets a reply (0.3^5 ≈ 0.2% stays empty per prompt).
    let stillEmpty = 0;
    for (const i of emptyIndexes) {
      let reply = '';
      for (let attempt = 0; attempt < 5 && reply === ''; attempt++) reply = (await text(client, `Summarise post ${i}`)).text ?? '';
      if (reply === '') stillEmpty++;
    }
    expect(stillEmpty).toBeLessThanOrEqual(2);

    const pro = await inParallel(
      200,
      16,
      async (i) => (await client.models.generateContent({ model: 'gemini-2.5-pro', contents: `Summarise post ${i}` })).text ?? '',
    );
    expect(pro.filter((reply) => reply === '')).toEqual([]);
  });

  it('bad_json_rate 1: every JSON reply parses but breaks its schema (or, without a schema, does not parse); text is untouched', async () => {
    const client = (await emulator({ bad_json_rate: 1, models: { 'gemini-2.5-pro': { bad_json_rate: 0 } } })).client();
    for (const schema of [
      BRIEF_SCHEMA,
      STRICT_SCHEMA,
      { type: 'object', properties: { note: { type: 'string' } } },
      { type: 'array', items: { type: 'string' } },
    ]) {
      const check = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
      for (let i = 0; i < 20; i++) {
        const response = await json(client, `Brief ${i}`, schema);
        expect(response.candidates?.[0]?.finishReason).toBe('STOP');
        expect(check.safeParse(JSON.parse(response.text ?? '')).success).toBe(false);
      }
    }
    const schemaless = await client.models.generateContent({ model: MODEL, contents: 'Anything', config: { responseMimeType: 'application/json' } });
    expect(() => JSON.parse(schemaless.text ?? '') as unknown).toThrow();
    expect((await text(client, 'Write an intro about WAL mode.')).text?.length).toBeGreaterThan(0);
    const pro = await client.models.generateContent({
      model: 'gemini-2.5-pro',
      contents: 'Brief',
      config: { responseMimeType: 'application/json', responseJsonSchema: BRIEF_SCHEMA },
    });
    expect(z.fromJSONSchema(BRIEF_SCHEMA as Parameters<typeof z.fromJSONSchema>[0]).safeParse(JSON.parse(pro.text ?? '')).success).toBe(true);
  });

  it('JSON replies always satisfy their schema (plain and strict schemas, 1,000 prompts)', async () => {
    const client = (await emulator()).client();
    for (const [schema, n] of [
      [BRIEF_SCHEMA, 600],
      [STRICT_SCHEMA, 400],
    ] as const) {
      const check = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
      const problems = await inParallel(n, 32, async (i) => {
        const response = await json(client, `Brief for post ${i} about databases`, schema);
        expect(response.candidates?.[0]?.finishReason).toBe('STOP');
        const result = check.safeParse(JSON.parse(response.text ?? ''));
        return result.success ? undefined : { i, issues: result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`), text: response.text };
      });
      expect(problems.filter(Boolean)).toEqual([]);
    }
  });
});
