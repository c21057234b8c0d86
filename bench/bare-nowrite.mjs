// The yardstick: what a hand-written script does with the bare @google/genai SDK. N text prompts,
// at most C in flight (p-limit), each reply written to its own file. No state, no retries, no ledger.
// usage: node bench/bare-sdk.mjs URL N C OUT_DIR
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import pLimit from 'p-limit';

const [url, n, c, out] = process.argv.slice(2);
const ai = new GoogleGenAI({ vertexai: true, project: 'bench', location: 'us-central1', apiKey: 'bench', httpOptions: { baseUrl: url } });
const limit = pLimit(Number(c));
await mkdir(out, { recursive: true });
await Promise.all(
  Array.from({ length: Number(n) }, (_, i) =>
    limit(async () => {
      const reply = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: `Write a short note about topic ${i}.` });
      if (!process.env.NOWRITE) await writeFile(join(out, `item-${i}.txt`), reply.text ?? "");
    }),
  ),
);
