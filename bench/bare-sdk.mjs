// The yardstick: what a hand-written script does with the bare @google/genai SDK. N text prompts,
// at most C in flight (p-limit), each reply written to its own file. No state, no retries, no ledger.
// usage: node bench/bare-sdk.mjs URL N C OUT_DIR [genbatch-http]
// With `genbatch-http`, the SDK is given genbatch's own HTTP client (dist/providers/http-fetch.js)
// instead of Node's global fetch: what is left of the difference is genbatch's own work.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import pLimit from 'p-limit';

const [url, n, c, out, http] = process.argv.slice(2);
const fetch = http === 'genbatch-http' ? (await import('../dist/providers/http-fetch.js')).httpFetch : undefined;
const ai = new GoogleGenAI({
  vertexai: true,
  project: 'bench',
  location: 'us-central1',
  apiKey: 'bench',
  httpOptions: { baseUrl: url, ...(fetch ? { fetch } : {}) },
});
const limit = pLimit(Number(c));
await mkdir(out, { recursive: true });
await Promise.all(
  Array.from({ length: Number(n) }, (_, i) =>
    limit(async () => {
      const reply = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: `Write a short note about topic ${i}.` });
      await writeFile(join(out, `item-${i}.txt`), reply.text ?? '');
    }),
  ),
);
